# Golden values for ltfu.stats.finegray from cmprsk::crr (converged tightly: gtol = 1e-12, so the
# estimates are the exact solution rather than crr's default 1e-6 stopping point).
# Run from the repository root:  Rscript tests/reference/finegray.R
suppressMessages({library(cmprsk); library(survival); library(jsonlite)})
set.seed(1999)
n <- 150
x1 <- rbinom(n, 1, 0.5); x2 <- round(rnorm(n), 2)
time <- round(rexp(n, 0.08 * exp(0.5 * x1 - 0.3 * x2)), 0) + 1
status <- sample(0:2, n, TRUE, prob = c(0.3, 0.45, 0.25))
m <- mgus2[!is.na(mgus2$hgb), ]
m <- m[seq(1, nrow(m), by = 5), ]
m$etime <- ifelse(m$pstat == 1, m$ptime, m$futime)
m$event <- ifelse(m$pstat == 1, 1, 2 * m$death)
cases <- list(list(name = "simulated", time = time, status = status, X = cbind(x1, x2)),
              list(name = "mgus2", time = m$etime, status = m$event, X = cbind(age = m$age, male = as.numeric(m$sex == "M"), hgb = m$hgb)))
out <- list()
for (cs in cases) for (fc in 1:2) {
  f <- crr(cs$time, cs$status, cs$X, failcode = fc, gtol = 1e-12, maxiter = 100)
  pr <- predict(f, rbind(colMeans(cs$X), cs$X[1, ]))
  out[[length(out) + 1]] <- list(name = cs$name, cause = fc, time = cs$time, status = cs$status,
    X = lapply(seq_len(ncol(cs$X)), function(j) unname(cs$X[, j])), coef = unname(f$coef),
    se = unname(sqrt(diag(f$var))), loglik = f$loglik, loglik_null = f$loglik.null,
    pred_times = unname(pr[, 1]), pred = lapply(2:ncol(pr), function(j) unname(pr[, j])),
    newx = list(unname(colMeans(cs$X)), unname(cs$X[1, ])))
}
write_json(list(r_version = R.version.string, cmprsk_version = as.character(packageVersion("cmprsk")), cases = out),
           "tests/reference/finegray.json", digits = NA, auto_unbox = TRUE, na = "null")
