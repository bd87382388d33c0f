# Golden values for ltfu.persistence on the SYNTHETIC demonstration study: the per-patient rows
# ltfu derives (tests/reference/persistence_rows.csv, written by persistence_rows.py) analysed by R.
#   aplasia duration:      survfit(Surv(b_time, b_status)), log-log limits, overall and by burden
#   recovery incidence:    cmprsk::cuminc(b_cr_time, b_cause, burden) values, variances, Gray's test
#   blood-count recovery:  cmprsk::cuminc(time, status), death competing, overall and by burden
#   time-dependent Cox:    tmerge (delayed entry at the response, tdc at the day the recovery is
#                          confirmed: the second of its two assessments), coxph
#   landmarks:             survdiff from the landmark among patients in remission and followed
# Turnbull's estimate is validated in tests/reference/interval.R, not here.
# Run from the repository root:  Rscript tests/reference/persistence.R
suppressMessages({library(survival); library(cmprsk); library(jsonlite)})
rows <- read.csv("tests/reference/persistence_rows.csv", stringsAsFactors = FALSE, na.strings = "NA")
report_days <- c(90, 180, 270, 365, 730)
recovery_days <- c(28, 60, 90, 180)
landmarks <- c(90, 180, 270, 365)

km <- function(time, status) {
  fit <- survfit(Surv(time, status) ~ 1, conf.type = "log-log")
  s <- summary(fit, censored = TRUE)
  at_t <- report_days[report_days <= max(time)]
  a <- summary(fit, times = at_t)
  list(table = list(time = s$time, n_risk = s$n.risk, n_event = s$n.event, survival = s$surv,
                    std_err = s$std.err, lower = s$lower, upper = s$upper),
       at = list(day = a$time, survival = a$surv, std_err = a$std.err, lower = a$lower, upper = a$upper,
                 n_risk = a$n.risk),
       median = unname(quantile(fit, 0.5, conf.int = TRUE)))
}

cif <- function(time, cause, group, days) {
  fit <- if (is.null(group)) cuminc(time, cause, cencode = 0) else cuminc(time, cause, group, cencode = 0)
  tp <- timepoints(fit, days)
  curves <- lapply(rownames(tp$est), function(k) {
    parts <- strsplit(k, " ")[[1]]
    list(group = if (is.null(group)) "overall" else parts[1], cause = as.integer(parts[2]),
         estimate = unname(tp$est[k, ]), variance = unname(tp$var[k, ]))
  })
  tests <- if (is.null(group)) NULL else
    list(cause = as.integer(rownames(fit$Tests)), statistic = unname(fit$Tests[, "stat"]),
         p_value = unname(fit$Tests[, "pv"]), df = unname(fit$Tests[, "df"]))
  list(days = days, curves = curves, gray = tests)
}

cox_td <- function(d) {
  b <- d[!is.na(d$rfs_time) & d$rfs_time > d$rfs_entry,
         c("patient_id", "rfs_entry", "rfs_time", "rfs_event", "rec_confirmed")]
  names(b)[1] <- "id"
  td <- tmerge(b, b, id = id, rfs = event(rfs_time, rfs_event), tstart = rfs_entry, tstop = rfs_time)
  rec <- b[!is.na(b$rec_confirmed), ]
  td <- tmerge(td, rec, id = id, recovered = tdc(rec_confirmed))
  td <- td[order(td$id, td$tstart), ]
  f <- coxph(Surv(tstart, tstop, rfs) ~ recovered, data = td, ties = "efron")
  s <- summary(f)
  list(n_rows = nrow(td),
       rows = list(id = td$id, tstart = td$tstart, tstop = td$tstop, event = td$rfs, recovered = td$recovered),
       coef = unname(coef(f)), se = unname(sqrt(diag(f$var))), loglik = unname(f$loglik),
       score = unname(f$score), wald = unname(f$wald.test), lr = unname(2 * diff(f$loglik)),
       hr_ci = unname(s$conf.int[1, 3:4]), p_value = unname(s$coefficients[1, "Pr(>|z|)"]),
       n = f$n, nevent = f$nevent)
}

landmark <- function(d) {
  lapply(landmarks, function(L) {
    k <- !is.na(d$rfs_time) & d$rfs_entry <= L & d$rfs_time > L
    t <- d$rfs_time[k] - L; e <- d$rfs_event[k]
    x <- as.integer(!is.na(d$rec_confirmed[k]) & d$rec_confirmed[k] <= L)
    chisq <- if (length(unique(x)) == 2 && sum(e) > 0) survdiff(Surv(t, e) ~ x)$chisq else NA
    list(day = L, n = sum(k), n_exposed = sum(x), chisq = chisq)
  })
}

one <- function(d) {
  levels <- sort(unique(d$burden[!is.na(d$burden)]))
  by <- function(f) c(list(overall = f(rep(TRUE, nrow(d)))), setNames(lapply(levels, function(l)
    f(!is.na(d$burden) & d$burden == l)), levels))
  g <- ifelse(is.na(d$burden), NA, d$burden)
  counts <- lapply(c(anc = "anc", plt20 = "plt20", plt50 = "plt50"), function(p) {
    time <- d[[paste0(p, "_time")]]; status <- d[[paste0(p, "_status")]]
    list(overall = cif(time, status, NULL, recovery_days), groups = cif(time, status, g, recovery_days))
  })
  list(n = nrow(d),
       aplasia_km = by(function(m) km(d$b_time[m], d$b_status[m])),
       logrank = survdiff(Surv(b_time, b_status) ~ burden, data = d)$chisq,
       recovery_cif = list(overall = cif(d$b_cr_time, d$b_cause, NULL, report_days),
                           groups = cif(d$b_cr_time, d$b_cause, g, report_days)),
       counts = counts, cox = cox_td(d), landmarks = landmark(d))
}

out <- list(r_version = R.version.string, survival = as.character(packageVersion("survival")),
            cmprsk = as.character(packageVersion("cmprsk")))
for (ds in unique(rows$dataset)) out[[ds]] <- one(rows[rows$dataset == ds, ])
write_json(out, "tests/reference/persistence.json", digits = NA, auto_unbox = TRUE, na = "null")
