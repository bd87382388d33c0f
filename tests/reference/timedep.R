# Golden values for ltfu.stats.timedep on survival::jasa (Stanford heart transplant: the classic
# time-dependent exposure). The split follows ltfu's documented rules, written out here in R.
# Run from the repository root:  Rscript tests/reference/timedep.R
suppressMessages({library(survival); library(jsonlite)})
j <- jasa[jasa$futime > 0, ]
time <- as.numeric(j$futime); event <- j$fustat
expo <- ifelse(j$transplant == 1, as.numeric(j$wait.time), NA)
split_rows <- function(time, event, expo) {
  out <- NULL
  for (i in seq_along(time)) {
    x <- expo[i]
    if (!is.na(x) && x > 0 && x < time[i]) {
      out <- rbind(out, data.frame(id = i, tstart = 0, tstop = x, status = 0, exposed = 0),
                   data.frame(id = i, tstart = x, tstop = time[i], status = event[i], exposed = 1))
    } else {
      out <- rbind(out, data.frame(id = i, tstart = 0, tstop = time[i], status = event[i],
                                   exposed = as.numeric(!is.na(x) && x <= 0)))
    }
  }
  out
}
s <- split_rows(time, event, expo)
f <- coxph(Surv(tstart, tstop, status) ~ exposed, data = s)
sm <- survfit(Surv(tstart, tstop, status) ~ exposed, data = s, conf.type = "log-log")
km <- function(k) { z <- summary(sm[k], censored = TRUE); list(time = z$time, n_risk = z$n.risk, survival = z$surv,
                                                               ci_lower = z$lower, ci_upper = z$upper) }
lm <- 30
keep <- time > lm
lt <- time[keep] - lm; le <- event[keep]; lx <- as.numeric(!is.na(expo[keep]) & expo[keep] <= lm)
sd <- survdiff(Surv(lt, le) ~ lx)
write_json(list(r_version = R.version.string, time = time, event = event, exposure = expo,
                n_rows = nrow(s), split = list(id = s$id, entry = s$tstart, exit = s$tstop, event = s$status,
                                               exposed = s$exposed),
                coef = unname(coef(f)), se = unname(sqrt(diag(f$var))), score = unname(f$score),
                hr_ci = unname(summary(f)$conf.int[, 3:4]),
                unexposed = km(1), exposed = km(2),
                landmark = list(day = lm, n = sum(keep), n_exposed = sum(lx), chisq = sd$chisq)),
           "tests/reference/timedep.json", digits = NA, auto_unbox = TRUE, na = "null")
