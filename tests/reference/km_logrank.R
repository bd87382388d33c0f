# Golden values for ltfu.stats.km and ltfu.stats.logrank, from R survival.
# Run from the repository root:  Rscript tests/reference/km_logrank.R
# Writes tests/reference/km_logrank.json (the data of every case are stored in the JSON too).
suppressMessages({library(survival); library(jsonlite)})

km_case <- function(name, time, event, entry = NULL, taus = NULL, at = NULL) {
  out <- list(name = name, time = time, event = event, entry = entry, by_conf_type = list())
  for (ct in c("log", "log-log", "plain")) {
    f <- if (is.null(entry)) survfit(Surv(time, event) ~ 1, conf.type = ct)
         else survfit(Surv(entry, time, event) ~ 1, conf.type = ct)
    s <- summary(f, censored = TRUE)
    q <- quantile(f, c(0.25, 0.5, 0.75))
    res <- list(table = list(time = s$time, n_risk = s$n.risk, n_event = s$n.event, n_censor = s$n.censor,
                             survival = s$surv, std_err = s$std.err, ci_lower = s$lower, ci_upper = s$upper),
                quantile = list(p = c(0.25, 0.5, 0.75), value = unname(q$quantile),
                                lower = unname(q$lower), upper = unname(q$upper)))
    if (!is.null(at)) {
      sa <- summary(f, times = at, extend = TRUE)
      res$at <- list(time = sa$time, survival = sa$surv, std_err = sa$std.err, ci_lower = sa$lower,
                     ci_upper = sa$upper, n_risk = sa$n.risk)
    }
    out$by_conf_type[[ct]] <- res
  }
  if (!is.null(taus)) {
    f <- survfit(Surv(time, event) ~ 1)
    out$rmst <- lapply(taus, function(tau) {
      tb <- summary(f, rmean = tau)$table
      list(tau = tau, estimate = unname(tb["rmean"]), std_err = unname(tb["se(rmean)"]))
    })
  }
  out
}

lung2 <- na.omit(lung[, c("time", "status", "sex", "ph.ecog")])
cases <- list(
  km_case("lung", lung$time, lung$status - 1, taus = c(365, 730), at = c(0, 100, 365, 730, 1100)),
  km_case("aml", aml$time, aml$status, taus = c(48), at = c(0, 10, 30, 200)),
  km_case("ovarian", ovarian$futime, ovarian$fustat, taus = c(1000), at = c(0, 365, 1200)),
  km_case("veteran", veteran$time, veteran$status, taus = c(180), at = c(30, 90, 365)),
  km_case("flat_at_half", c(1, 2, 3, 4, 5, 6), c(1, 1, 1, 0, 0, 1), at = c(2.5, 3, 6)),
  km_case("flat_to_end", c(1, 2, 3, 4), c(1, 1, 0, 0)),
  km_case("all_events_tied", c(1, 2, 2, 3, 3, 3, 4), c(1, 1, 1, 1, 1, 1, 1), taus = c(3)),
  km_case("all_censored", c(2, 3, 5, 8), c(0, 0, 0, 0), at = c(1, 4, 10)),
  km_case("single_patient", c(7), c(1), at = c(3, 7, 9)),
  km_case("delayed_entry", c(1, 2, 2, 3, 4, 4, 5, 6, 7, 8), c(1, 0, 1, 1, 0, 1, 1, 0, 0, 1),
          entry = c(0, 0, 1, 0, 0, 2, 0, 3, 0, 0)),
  km_case("heart_counting_process", heart$stop, heart$event, entry = heart$start, at = c(10, 100, 500))
)

fu <- survfit(Surv(lung$time, 1 - (lung$status - 1)) ~ 1, conf.type = "log-log")
qf <- quantile(fu, 0.5)
follow_up <- list(time = lung$time, death = lung$status - 1,
                  median = unname(qf$quantile), lower = unname(qf$lower), upper = unname(qf$upper),
                  simple_median = median(lung$time))

lr_case <- function(name, time, event, group, strata = NULL, rho = 0, scores = NULL) {
  f <- if (is.null(strata)) survdiff(Surv(time, event) ~ group, rho = rho)
       else survdiff(Surv(time, event) ~ group + strata(strata), rho = rho)
  obs <- if (is.matrix(f$obs)) rowSums(f$obs) else f$obs
  exp <- if (is.matrix(f$exp)) rowSums(f$exp) else f$exp
  df <- sum(exp > 0) - 1
  out <- list(name = name, time = time, event = event, group = as.character(group),
              strata = if (is.null(strata)) NULL else as.character(strata), rho = rho,
              statistic = f$chisq, df = df, p_value = pchisq(f$chisq, df, lower.tail = FALSE),
              observed = unname(obs), expected = unname(exp), variance = unname(f$var),
              groups = sub("group=", "", names(f$n)))
  if (!is.null(scores)) {
    u <- sum(scores * (obs - exp)); v <- drop(t(scores) %*% f$var %*% scores)
    out$trend <- list(scores = scores, statistic = u^2 / v, p_value = pchisq(u^2 / v, 1, lower.tail = FALSE))
  }
  out
}
vet <- veteran
logrank <- list(
  lr_case("lung_sex", lung$time, lung$status - 1, lung$sex),
  lr_case("lung_sex_rho1", lung$time, lung$status - 1, lung$sex, rho = 1),
  lr_case("veteran_celltype", vet$time, vet$status, as.character(vet$celltype)),
  lr_case("veteran_trt_strata_celltype", vet$time, vet$status, vet$trt, strata = as.character(vet$celltype)),
  lr_case("veteran_trt_strata_rho05", vet$time, vet$status, vet$trt, strata = as.character(vet$celltype), rho = 0.5),
  lr_case("ovarian_rx", ovarian$futime, ovarian$fustat, ovarian$rx),
  lr_case("lung_ecog_trend", lung2$time, lung2$status - 1, lung2$ph.ecog, scores = c(0, 1, 2, 3)),
  lr_case("aml_x", aml$time, aml$status, as.character(aml$x))
)

out <- list(r_version = R.version.string, survival_version = as.character(packageVersion("survival")),
            km = cases, follow_up = follow_up, logrank = logrank)
write_json(out, "tests/reference/km_logrank.json", digits = NA, auto_unbox = TRUE, na = "null",
           null = "null", pretty = FALSE)
