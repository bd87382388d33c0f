# Golden values for ltfu.stats.competing: cmprsk::cuminc, timepoints and Gray's test, and the same
# Aalen-Johansen estimate from survival::survfit (multi-state) as a second check.
# Run from the repository root:  Rscript tests/reference/competing.R
suppressMessages({library(survival); library(cmprsk); library(jsonlite)})
set.seed(20181)
n <- 120
sim <- data.frame(time = round(rexp(n, 0.1), 0) + 1, status = sample(0:2, n, TRUE, prob = c(.3, .45, .25)),
                  group = sample(c("a", "b", "c"), n, TRUE), stratum = sample(c("s1", "s2"), n, TRUE))
m2 <- mgus2
m2$etime <- with(m2, ifelse(pstat == 1, ptime, futime))
m2$event <- with(m2, ifelse(pstat == 1, 1, 2 * death))
small <- data.frame(time = c(1, 2, 2, 3, 3, 3, 4, 5, 5, 6, 7, 8), status = c(1, 2, 0, 1, 1, 2, 0, 1, 0, 2, 1, 0),
                    group = c("x", "x", "y", "x", "y", "y", "x", "y", "y", "x", "y", "x"))
nocause2 <- data.frame(time = c(1, 2, 3, 4, 5, 6, 7, 8), status = c(1, 2, 1, 0, 1, 2, 0, 1),
                       group = c("p", "p", "p", "p", "q", "q", "q", "q"))
nocause2$status[nocause2$group == "q" & nocause2$status == 2] <- 0   # group q: no events of cause 2
cases <- list(list(name = "simulated", d = sim, strata = TRUE, times = c(2, 5, 10, 20, 40)),
              list(name = "mgus2", d = data.frame(time = m2$etime, status = m2$event, group = m2$sex),
                   strata = FALSE, times = c(12, 60, 120, 240)),
              list(name = "small_ties", d = small, strata = FALSE, times = c(0.5, 2, 3, 5.5, 8, 9)),
              list(name = "group_without_cause2", d = nocause2, strata = FALSE, times = c(1, 3, 6, 8)))
out <- lapply(cases, function(cs) {
  d <- cs$d
  fit <- if (cs$strata) cuminc(d$time, d$status, d$group, d$stratum) else cuminc(d$time, d$status, d$group)
  tp <- timepoints(fit, cs$times)
  curves <- lapply(rownames(tp$est), function(r) list(key = r, est = unname(tp$est[r, ]), var = unname(tp$var[r, ])))
  tests <- fit$Tests
  fit1 <- cuminc(d$time, d$status)
  tp1 <- timepoints(fit1, cs$times)
  overall <- lapply(rownames(tp1$est), function(r) list(key = r, est = unname(tp1$est[r, ]), var = unname(tp1$var[r, ])))
  ms <- survfit(Surv(d$time, factor(d$status, 0:2)) ~ 1)
  sm <- summary(ms, times = cs$times[cs$times <= max(d$time)], extend = TRUE)
  list(name = cs$name, time = d$time, status = d$status, group = as.character(d$group),
       stratum = if (cs$strata) as.character(d$stratum) else NULL, times = cs$times, curves = curves,
       overall = overall, tests = list(stat = unname(tests[, 1]), p = unname(tests[, 2]), df = unname(tests[, 3]),
                                       cause = rownames(tests)),
       aj_times = sm$time, aj = lapply(1:2, function(k) unname(sm$pstate[, k + 1])))
})
write_json(list(r_version = R.version.string, cmprsk_version = as.character(packageVersion("cmprsk")), cases = out),
           "tests/reference/competing.json", digits = NA, auto_unbox = TRUE, na = "null")
