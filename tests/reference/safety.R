# Golden values for ltfu.safety on the small study in tests/fixtures/safety_study, derived in R
# independently of ltfu: person-time by hand from the dates, rates and rate ratios from poisson.test,
# cumulative incidence (death competing) and Gray's test from cmprsk::cuminc.
# Run from the repository root:  Rscript tests/reference/safety.R   (writes tests/reference/safety.json)
suppressMessages({library(jsonlite); library(cmprsk)})
dir <- "tests/fixtures/safety_study"
p <- read.csv(file.path(dir, "patients.csv"), colClasses = "character")
e <- read.csv(file.path(dir, "events.csv"), colClasses = "character")
th <- read.csv(file.path(dir, "therapies.csv"), colClasses = "character")
day <- function(date, id) as.numeric(as.Date(date) - as.Date(p$infusion_date[match(id, p$patient_id)]))
d <- function(x) ifelse(x == "", NA, as.numeric(as.Date(x) - as.Date(p$infusion_date)))
death <- d(p$death_date); last <- d(p$last_contact_date); cut <- d(p$data_cutoff_date)
end <- pmin(last, cut, death, na.rm = TRUE)
dead <- !is.na(death) & death <= end
burden <- ifelse(as.numeric(p$marrow_blasts_pct) >= 5 | p$extramedullary == "yes", "high", "low")
e$onset <- day(e$onset_date, e$patient_id)
th$start <- day(th$start_date, th$patient_id)
stop_day <- function(kinds) {
  s <- end
  for (i in seq_len(nrow(p))) {
    t <- th$start[th$patient_id == p$patient_id[i] & th$type %in% kinds]
    if (length(t) && min(t) < s[i]) s[i] <- max(min(t), 0)
  }
  s
}
rules <- list(none = character(0), anticancer = "anticancer", allo_hct = "allo_hct",
              anticancer_or_allo_hct = c("anticancer", "allo_hct"))
PY <- 365.25
windows <- list("0-3 months" = c(0, 91.3125), "3-12 months" = c(91.3125, 365.25), "1-2 years" = c(365.25, 730.5),
                "2-5 years" = c(730.5, 1826.25), "5-15 years" = c(1826.25, 5478.75))
rate <- function(k, years) {
  if (years <= 0) return(list(events = k, person_years = years, rate = NULL, lower = NULL, upper = NULL))
  r <- poisson.test(k, years)
  list(events = k, person_years = years, rate = 100 * unname(r$estimate), lower = 100 * r$conf.int[1],
       upper = 100 * r$conf.int[2])
}
# events of a category within each patient's time at risk; first = each patient's earliest such event
within <- function(cat, stop) {
  x <- e[e$category == cat, ]
  x[x$onset <= stop[match(x$patient_id, p$patient_id)], ]
}
counts <- function(cat, stop, first, members, lo = 0, hi = Inf) {
  x <- within(cat, stop)
  s <- stop
  if (first) {
    x <- x[order(x$onset), ]
    x <- x[!duplicated(x$patient_id), ]
    f <- x$onset[match(p$patient_id, x$patient_id)]
    s <- ifelse(!is.na(f) & f < s, f, s)
  }
  x <- x[x$patient_id %in% p$patient_id[members] & x$onset >= lo & x$onset < hi, ]
  days <- pmax(pmin(s, hi) - lo, 0)[members]
  c(rate(nrow(x), sum(days) / PY), patients = length(unique(x$patient_id)))
}
cats <- c("second_primary_malignancy", "infection", "neurological", "autoimmune")
groups <- list(all = rep(TRUE, nrow(p)), low_burden = burden == "low", high_burden = burden == "high")
out <- list(r_version = R.version.string, cmprsk = as.character(packageVersion("cmprsk")),
            person_time = list(), rates = list(), windows = list(), rate_ratio = list(), cuminc = list())
for (rule in names(rules)) {
  stop <- stop_day(rules[[rule]])
  out$person_time[[rule]] <- setNames(as.list(stop), p$patient_id)
  out$rates[[rule]] <- list()
  for (cat in cats) {
    out$rates[[rule]][[cat]] <- list(
      first = lapply(groups, function(m) counts(cat, stop, TRUE, m)),
      all = lapply(groups, function(m) counts(cat, stop, FALSE, m)))
  }
}
stop <- end
for (cat in cats) {
  out$windows[[cat]] <- lapply(windows, function(w) counts(cat, stop, FALSE, groups$all, w[1], w[2]))
  hi <- counts(cat, stop, TRUE, groups$high_burden); lo <- counts(cat, stop, TRUE, groups$low_burden)
  r <- poisson.test(c(hi$events, lo$events), c(hi$person_years, lo$person_years))
  out$rate_ratio[[cat]] <- list(ratio = unname(r$estimate), lower = r$conf.int[1], upper = r$conf.int[2],
                                p_value = r$p.value)
  # time to the first event of the category; death without it competes; censored at the end
  x <- within(cat, stop); f <- tapply(x$onset, x$patient_id, min)[p$patient_id]
  has <- !is.na(f) & f <= stop
  time <- pmax(ifelse(has, f, stop), 0)
  status <- ifelse(has, 1, ifelse(dead & end <= stop, 2, 0))
  at <- c(1, 2, 5) * PY
  ci <- cuminc(time, status, cencode = 0)
  tp <- timepoints(ci, at)
  entry <- list(time = time, status = status, at = at, estimate = unname(tp$est["1 1", ]),
                variance = unname(tp$var["1 1", ]))
  if (length(unique(burden[status == 1])) >= 1 && any(status == 1)) {
    g <- cuminc(time, status, group = burden, cencode = 0)
    entry$gray_statistic <- unname(g$Tests[1, "stat"]); entry$gray_p <- unname(g$Tests[1, "pv"])
  }
  out$cuminc[[cat]] <- entry
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", na = "null"), "tests/reference/safety.json")
