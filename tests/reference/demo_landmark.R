# Golden values for the report's allo-HCT landmark (issue: its median limits ignored --conf-type),
# on the packaged SYNTHETIC demonstration cohort: among complete responders (CR/CRi), patients
# event-free beyond day 100, by allo-HCT at or before day 100; times from the landmark, in months
# (30.4375 days). EFS and OS are derived from the raw table by the README's definitions, written
# out here in R (a recorded best response other than CR/CRi, NE included, is an EFS event at day 0).
# Medians and limits by survfit's quantile() for conf.type "log", "log-log" and "plain", at 95%
# and (log) 90%. Run from the repository root:  Rscript tests/reference/demo_landmark.R
suppressMessages({library(survival); library(jsonlite)})
MO <- 30.4375
d <- read.csv("src/ltfu/demo/park2018_synthetic.csv", comment.char = "#", stringsAsFactors = FALSE,
              na.strings = c("", "NA"))
D <- function(x) as.numeric(as.Date(x) - as.Date(d$infusion_date))       # days from infusion
eofu <- pmin(D(d$last_contact_date), D(d$data_cutoff_date))                # end of follow-up
dth <- D(d$death_date); dth[!is.na(dth) & dth > eofu] <- NA
rel <- D(d$relapse_date); rel[!is.na(rel) & rel > eofu] <- NA
hct <- D(d$allo_hct_date); hct[!is.na(hct) & hct > eofu] <- NA
cr <- d$best_response %in% c("CR", "CRi")
os_t <- ifelse(!is.na(dth), dth, eofu); os_s <- as.numeric(!is.na(dth))
first <- pmin(rel, dth, na.rm = TRUE)
efs_t <- ifelse(!is.na(first), first, eofu); efs_s <- as.numeric(!is.na(first))
nonresp <- !is.na(d$best_response) & !cr
efs_t[nonresp] <- 0; efs_s[nonresp] <- 1
L <- 100
median_of <- function(t, s, type, level) {
  q <- quantile(survfit(Surv(t / MO, s) ~ 1, conf.type = type, conf.int = level), 0.5)
  list(value = unname(q$quantile), lower = unname(q$lower), upper = unname(q$upper))
}
out <- list(r_version = R.version.string, landmark_days = L)
for (ep in c("efs", "os")) {
  t <- if (ep == "efs") efs_t else os_t; s <- if (ep == "efs") efs_s else os_s
  keep <- cr & t > L
  ex <- !is.na(hct[keep]) & hct[keep] <= L
  tt <- t[keep] - L; ss <- s[keep]
  res <- list(n = sum(keep), n_exposed = sum(ex))
  for (spec in list(c("log", 0.95), c("log-log", 0.95), c("plain", 0.95), c("log", 0.90))) {
    key <- paste0(spec[1], "_", spec[2])
    res[[key]] <- list(exposed = median_of(tt[ex], ss[ex], spec[1], as.numeric(spec[2])),
                       unexposed = median_of(tt[!ex], ss[!ex], spec[1], as.numeric(spec[2])))
  }
  out[[ep]] <- res
}
write_json(out, "tests/reference/demo_landmark.json", digits = NA, auto_unbox = TRUE, na = "null", pretty = TRUE)
