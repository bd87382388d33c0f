# Seeded randomized cross-check of ltfu.stats against R (survival, cmprsk, stats).
#
# Generates a few thousand small, deliberately nasty data sets and R's answer for each, and writes
# inputs AND outputs to tests/reference/crosscheck.json; tests/test_crosscheck.py runs ltfu on every
# case and compares (relative 1e-6; 1e-5 for standard errors of iterative fits).
#
# Run from the repository root:   Rscript tests/reference/crosscheck.R        (3-4 minutes; the same seed gives the same JSON)
#
# Covered (prefix of the case ids in brackets):
#   kaplan_meier [km]        survfit, conf.type log / log-log / plain: summary(censored=TRUE) table,
#                            quantile(.25, .5, .75) with limits, summary(times=, extend=TRUE) including
#                            times past the last observation; delayed entry Surv(entry, time, event)
#   nelson_aalen [na]        survfit's cumhaz and std.chaz (summary(censored=TRUE)); delayed entry
#   median_follow_up [fu]    reverse Kaplan-Meier median and limits, simple median
#   rmst [rmst]              summary(fit, rmean=tau)$table rmean and se(rmean), tau past the last time
#   rmst_difference [rmstd]  the same per group of survfit(~ group); difference and its SE
#   logrank [lr]             survdiff, 2-4 groups, strata (some of one subject), rho 0, 0.5, 1
#   logrank_trend [trend]    (c'(O - E))^2 / c'Vc from survdiff's O, E and V
#   cox [cox]                coxph efron / breslow, strata, (entry, exit], cluster() robust variance:
#                            coef, se, robust se, loglik, score / Wald / LR tests
#   cox_zph [zph]            cox.zph transform km / rank / identity: chisq, df, p per term and GLOBAL
#   cumulative_incidence [ci] cmprsk::cuminc + timepoints: estimates and variances
#   gray_test [gray]         cuminc's Gray test, with and without strata, rho 0 and 1
#   fine_gray [fg]           cmprsk::crr (gtol = 1e-12, or 1e-10, 1e-8): coef, se, loglik, null loglik
#   logistic [logit]         glm(binomial), epsilon = 1e-14 (1e-12, 1e-10 where out of reach): coef, se, intercept
#   fisher_exact [fisher]    fisher.test 2x2 (three alternatives) and r x c; the 2x2 odds ratio and
#                            limits are also re-solved here to 1e-13 (fisher.test's uniroot stops at
#                            about 1e-4, so its own values are stored but are not the reference)
#   binomial_ci [binom]      binom.test (exact), prop.test correct = FALSE / TRUE (wilson / wilson-cc)
#   wilcoxon_ranksum [wilcox] wilcox.test exact / normal, ties, correct TRUE / FALSE, alternatives
#   mantel_byar [mb]         tmerge + coxph(Surv(tstart, tstop, death) ~ exposed): score test, HR, CI
#   landmark [lm]            patients event-free past the landmark: survdiff, n, medians (log-log)
#   options ltfu lacks       coxph(weights=) [coxw], survfit(weights=) [kmw]: R answers only
#
# Nasty means: integer times 1..5 (heavy ties, events and censorings at the same time), n = 1 to 3,
# groups without events, all censored, all events, times multiplied by 1e-6 or 1e6, times such as
# 0.1 + 0.2 next to 0.3 (R's timefix merges them), delayed entry, strata of one subject, 2-3
# clusters, near separation, zero cells, tau and summary times after the last observation.
#
# When R fails (error, NA coefficient, a warning that the estimate is infinite / not converged,
# separation by an LP check for glm, a diverging refit for crr) the answer is {"error": "<message>"}
# (R's numbers, if any, are kept next to it): ltfu is then expected to raise InvalidInputError or
# ConvergenceError.
#
# Numbers are written with 17 significant digits (jsonlite's digits = NA keeps only 15, which would
# turn 0.1 + 0.2 into 0.3), by the small writer below; R's NA, NaN and Inf become null.
suppressMessages({library(survival); library(cmprsk); library(lpSolve)})
set.seed(20240611)

# ---------------------------------------------------------------------------------------------
# JSON writer: named list -> object, unnamed list -> array, vector of length 1 -> scalar unless
# wrapped in I() (data vectors always are), matrix -> array of rows.
js_str <- function(s) {
  s <- enc2utf8(as.character(s))
  s <- gsub("\\", "\\\\", s, fixed = TRUE)
  s <- gsub("\"", "\\\"", s, fixed = TRUE)
  s <- gsub("\n", "\\n", s, fixed = TRUE)
  s <- gsub("\t", " ", s, fixed = TRUE)
  s <- gsub("[[:cntrl:]]", " ", s)
  paste0("\"", s, "\"")
}
js <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (length(x) == 0) return(if (is.null(names(x))) "[]" else "{}")
    if (!is.null(names(x))) {
      keep <- !vapply(x, is.null, TRUE)        # NULL members are left out
      x <- x[keep]
      return(paste0("{", paste0(js_str(names(x)), ":", vapply(x, js, ""), collapse = ","), "}"))
    }
    return(paste0("[", paste(vapply(x, js, ""), collapse = ","), "]"))
  }
  if (is.matrix(x)) return(js(lapply(seq_len(nrow(x)), function(i) I(unname(x[i, ])))))
  boxed <- inherits(x, "AsIs") || length(x) != 1
  x <- unname(unclass(x))
  if (is.factor(x)) x <- as.character(x)
  vals <- if (is.character(x)) ifelse(is.na(x), "null", js_str(x))
          else if (is.logical(x)) ifelse(is.na(x), "null", ifelse(x, "true", "false"))
          else { x <- as.double(x); ifelse(is.finite(x), sprintf("%.17g", x), "null") }
  if (boxed) paste0("[", paste(vals, collapse = ","), "]") else vals
}

# ---------------------------------------------------------------------------------------------
# Running R: errors become {"error": msg}; warnings are collected.
run <- function(expr) {
  warns <- character(0)
  val <- withCallingHandlers(
    tryCatch(expr, error = function(e) list(error = conditionMessage(e))),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  if (length(warns)) val$warnings <- I(unique(warns))
  val
}
# a warning that the estimate does not exist turns R's answer into an expected error
fatal_warning <- function(r, pattern) {
  hit <- grep(pattern, r$warnings, value = TRUE)
  if (is.null(r$error) && length(hit)) r$error <- paste("R warning:", hit[1])
  r
}

CASES <- list()
COUNT <- list()
add <- function(prefix, fn, kind, input, r) {
  if (is.null(COUNT[[prefix]])) message(format(Sys.time(), "%H:%M:%S "), prefix)
  k <- if (is.null(COUNT[[prefix]])) 1L else COUNT[[prefix]] + 1L
  COUNT[[prefix]] <<- k
  CASES[[length(CASES) + 1]] <<- list(id = sprintf("%s-%04d", prefix, k), fn = fn, kind = kind,
                                      input = input, r = r)
}

# ---------------------------------------------------------------------------------------------
# Nasty data generators
FP <- c(0.1 + 0.2, 0.3, 0.7 + 0.1, 0.8, 0.2 + 0.4, 0.6, 1.1 * 1.1, 1.21, 0.1 * 3, 1, 2, 0.3 + 0.6, 0.9)
pick <- function(v, ...) v[[sample.int(length(v), 1, ...)]]
draw_n <- function(big = FALSE) {
  if (big) pick(c(1, 2, 3, 5, 8, 12, 20, 30, 50, 80), prob = c(1, 1, 1, 2, 2, 3, 3, 3, 2, 1))
  else pick(c(1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40), prob = c(2, 2, 2, 1, 2, 1, 2, 2, 2, 2, 2, 1, 1, 1))
}
draw_times <- function(n, kind) {
  switch(kind,
         int5 = as.double(sample(1:5, n, TRUE)),
         int3 = as.double(sample(1:3, n, TRUE)),
         int20 = as.double(sample(1:20, n, TRUE)),
         half = sample(seq(0.5, 6, by = 0.5), n, TRUE),
         cont = rexp(n, 0.2),
         fp = sample(FP, n, TRUE))
}
TIME_KINDS <- c("int5", "int5", "int5", "int3", "int20", "half", "cont", "cont", "fp", "fp")
draw_scale <- function() pick(c(1, 1, 1, 1, 1e-6, 1e6))
draw_event <- function(n) {
  mode <- pick(c("mixed", "mixed", "mixed", "mixed", "mostly", "rare", "all", "none"))
  e <- switch(mode, mixed = rbinom(n, 1, 0.5), mostly = rbinom(n, 1, 0.85), rare = rbinom(n, 1, 0.15),
              all = rep(1, n), none = rep(0, n))
  list(event = as.double(e), mode = mode)
}
surv_data <- function(n = draw_n(), tkind = pick(TIME_KINDS), scale = draw_scale()) {
  ev <- draw_event(n)
  time <- draw_times(n, tkind) * scale
  list(time = time, event = ev$event, n = n,
       kind = sprintf("n=%d times=%s scale=%g events=%s", n, tkind, scale, ev$mode), tkind = tkind, scale = scale)
}
# entry strictly before exit; ties of entries with other subjects' exits on integer scales
draw_entry <- function(time, tkind, scale) {
  n <- length(time)
  late <- runif(n) < 0.5
  entry <- if (tkind %in% c("int5", "int3", "int20")) {
    floor(runif(n) * (time / scale)) * scale
  } else time * pick(c(0.5, 0.25, 0.9)) * runif(n)
  entry[!late] <- 0
  pmin(entry, time * 0.999)
}
groups_for <- function(n, k, labels = letters) {
  g <- labels[sample.int(k, n, TRUE)]
  g
}

# ---------------------------------------------------------------------------------------------
# kaplan_meier
km_r <- function(time, event, entry, at) {
  out <- list()
  for (ct in c("log", "log-log", "plain")) {
    f <- if (is.null(entry)) survfit(Surv(time, event) ~ 1, conf.type = ct)
         else survfit(Surv(entry, time, event) ~ 1, conf.type = ct)
    s <- summary(f, censored = TRUE)
    q <- quantile(f, c(0.25, 0.5, 0.75))
    sa <- summary(f, times = at, extend = TRUE)
    if (ct == "log") {
      out$table <- list(time = I(s$time), n_risk = I(s$n.risk), n_event = I(s$n.event), n_censor = I(s$n.censor),
                        survival = I(s$surv), std_err = I(s$std.err))
      out$at <- list(time = I(sa$time), survival = I(sa$surv), std_err = I(sa$std.err), n_risk = I(sa$n.risk))
    }
    out[[ct]] <- list(ci_lower = I(s$lower), ci_upper = I(s$upper),
                      q_value = I(unname(q$quantile)), q_lower = I(unname(q$lower)), q_upper = I(unname(q$upper)),
                      at_lower = I(sa$lower), at_upper = I(sa$upper))
  }
  out
}
at_times <- function(time) {
  u <- sort(unique(time)); mx <- max(time)
  sort(unique(c(0, min(time) / 2, u[seq(1, length(u), length.out = min(3, length(u)))], mx, mx * 1.5, mx + 1)))
}
for (i in 1:420) {
  d <- surv_data()
  entry <- NULL
  if (runif(1) < 0.25) entry <- draw_entry(d$time, d$tkind, d$scale)
  at <- at_times(d$time)
  r <- run(km_r(d$time, d$event, entry, at))
  add("km", "kaplan_meier", paste(d$kind, if (!is.null(entry)) "delayed-entry" else ""),
      list(time = I(d$time), event = I(d$event), entry = if (is.null(entry)) NULL else I(entry), at = I(at),
           p = I(c(0.25, 0.5, 0.75))), r)
}
# knife-edge quantiles: data sets searched for a Kaplan-Meier value within 1e-12 of 0.25, 0.5 or 0.75
# but not equal to it, by R's survfit or by the product of (1 - d/n) (rounding differs between the two)
near_quartile <- function(s) any(vapply(c(0.25, 0.5, 0.75), function(q) any(abs(s - q) < 1e-12 & s != q), TRUE))
found <- 0
while (found < 50) {
  n <- sample(3:30, 1); time <- as.double(sample(1:sample(3:8, 1), n, TRUE)); event <- as.double(rbinom(n, 1, 0.6))
  u <- sort(unique(time))
  d <- vapply(u, function(x) sum(event[time == x]), 0); nr <- vapply(u, function(x) sum(time >= x), 0)
  if (!near_quartile(cumprod(1 - d / nr)) && !near_quartile(survfit(Surv(time, event) ~ 1)$surv)) next
  found <- found + 1
  if (found %% 5 == 0) time <- time * pick(c(1e-6, 1e6))
  at <- at_times(time)
  add("km", "kaplan_meier", sprintf("n=%d knife-edge: S within 1e-12 of a quartile", n),
      list(time = I(time), event = I(event), entry = NULL, at = I(at), p = I(c(0.25, 0.5, 0.75))),
      run(km_r(time, event, NULL, at)))
}

# ---------------------------------------------------------------------------------------------
# median_follow_up
for (i in 1:120) {
  d <- surv_data()
  ct <- pick(c("log-log", "log", "plain"))
  r <- run({
    f <- survfit(Surv(d$time, 1 - d$event) ~ 1, conf.type = ct)
    q <- quantile(f, 0.5)
    list(value = unname(q$quantile), lower = unname(q$lower), upper = unname(q$upper), simple_median = median(d$time))
  })
  add("fu", "median_follow_up", paste(d$kind, ct), list(time = I(d$time), death = I(d$event), conf_type = ct), r)
}

# ---------------------------------------------------------------------------------------------
# rmst and rmst_difference
rmean_of <- function(tb, tau) {
  tb <- if (is.matrix(tb)) tb else t(as.matrix(tb))
  list(estimate = I(unname(tb[, "rmean"])), std_err = I(unname(tb[, "se(rmean)"])))
}
draw_taus <- function(time) {
  mx <- max(time); u <- sort(unique(time))
  taus <- c(pick(u), mx, mx * 1.5)
  if (length(u) > 1) taus <- c(taus, (u[1] + u[2]) / 2)
  if (runif(1) < 0.08) taus <- c(taus, min(time) / 2)       # below the first time: R refuses
  sort(unique(taus))
}
for (i in 1:160) {
  d <- surv_data()
  taus <- draw_taus(d$time)
  res <- lapply(taus, function(tau) run({
    f <- survfit(Surv(d$time, d$event) ~ 1)
    v <- rmean_of(summary(f, rmean = tau)$table, tau)
    list(estimate = v$estimate[1], std_err = v$std_err[1])
  }))
  add("rmst", "rmst", d$kind, list(time = I(d$time), event = I(d$event), tau = I(taus)), list(by_tau = res))
}
for (i in 1:120) {
  d <- surv_data(n = pick(c(2, 3, 4, 6, 8, 12, 20, 30, 40)))
  g <- groups_for(d$n, 2)
  if (length(unique(g)) < 2) g[1] <- if (g[1] == "a") "b" else "a"
  mx <- min(tapply(d$time, g, max))
  taus <- sort(unique(c(mx, max(d$time), max(d$time) * 1.3)))
  res <- lapply(taus, function(tau) run({
    f <- survfit(Surv(d$time, d$event) ~ g)
    v <- rmean_of(summary(f, rmean = tau)$table, tau)
    diff <- v$estimate[2] - v$estimate[1]; se <- sqrt(sum(v$std_err^2))
    list(rmst = v$estimate, rmst_se = v$std_err, difference = diff, std_err = se,
         p_value = 2 * pnorm(-abs(diff / se)))
  }))
  add("rmstd", "rmst_difference", d$kind, list(time = I(d$time), event = I(d$event), group = I(g), tau = I(taus)),
      list(by_tau = res))
}

# ---------------------------------------------------------------------------------------------
# logrank and logrank_trend
survdiff_r <- function(time, event, group, strata, rho) {
  f <- if (is.null(strata)) survdiff(Surv(time, event) ~ group, rho = rho)
       else survdiff(Surv(time, event) ~ group + strata(strata), rho = rho)
  obs <- if (is.matrix(f$obs)) rowSums(f$obs) else f$obs
  exp <- if (is.matrix(f$exp)) rowSums(f$exp) else f$exp
  list(statistic = f$chisq, df = sum(exp > 0) - 1, p_value = f$pvalue, observed = I(unname(obs)),
       expected = I(unname(exp)), variance = unname(f$var))
}
lr_data <- function(numeric_groups = FALSE) {
  d <- surv_data(n = pick(c(2, 3, 4, 5, 8, 10, 15, 20, 30, 50)))
  k <- pick(c(2, 2, 2, 3, 3, 4))
  g <- if (numeric_groups) sample(0:(k - 1), d$n, TRUE) else groups_for(d$n, k)
  nasty <- pick(c("none", "none", "no-events-in-a-group", "singleton-group"))
  if (nasty == "no-events-in-a-group") d$event[g == g[1]] <- 0
  if (nasty == "singleton-group" && d$n > 2) g[1] <- if (numeric_groups) k else "z"
  strata <- NULL
  if (runif(1) < 0.35) {
    strata <- sample(c("s1", "s2", "s3")[1:pick(c(2, 3))], d$n, TRUE)
    if (runif(1) < 0.4) strata[1] <- "s9"                   # a stratum of one subject
  }
  d$group <- g; d$strata <- strata; d$nasty <- nasty
  d
}
for (i in 1:360) {
  d <- lr_data()
  rho <- pick(c(0, 0, 0, 1, 0.5))
  r <- run(survdiff_r(d$time, d$event, d$group, d$strata, rho))
  add("lr", "logrank", paste(d$kind, "groups:", d$nasty, if (!is.null(d$strata)) "strata" else "", "rho", rho),
      list(time = I(d$time), event = I(d$event), group = I(d$group),
           strata = if (is.null(d$strata)) NULL else I(d$strata), rho = rho), r)
}
for (i in 1:130) {
  d <- lr_data(numeric_groups = TRUE)
  rho <- pick(c(0, 0, 1))
  lev <- sort(unique(d$group))
  scores <- if (runif(1) < 0.5) NULL else round(runif(length(lev), -2, 3), 1)
  r <- run({
    s <- survdiff_r(d$time, d$event, d$group, d$strata, rho)
    c <- if (is.null(scores)) lev else scores
    u <- sum(c * (s$observed - s$expected)); v <- drop(t(c) %*% s$variance %*% c)
    list(statistic = u^2 / v, df = 1, p_value = pchisq(u^2 / v, 1, lower.tail = FALSE), u = u, v = v)
  })
  add("trend", "logrank_trend", paste(d$kind, "groups:", d$nasty, if (!is.null(d$strata)) "strata" else "", "rho", rho),
      list(time = I(d$time), event = I(d$event), group = I(d$group), scores = if (is.null(scores)) NULL else I(scores),
           strata = if (is.null(d$strata)) NULL else I(d$strata), rho = rho), r)
}

# ---------------------------------------------------------------------------------------------
# cox and cox_zph
cox_data <- function() {
  d <- surv_data(n = draw_n(big = TRUE))
  if (all(d$event == 0) && runif(1) < 0.8) d$event <- as.double(rbinom(d$n, 1, 0.6))    # a few without events
  n <- d$n; p <- pick(c(1, 1, 2, 2, 3))
  X <- matrix(0, n, p)
  kinds <- character(p)
  for (j in 1:p) {
    kinds[j] <- pick(c("binary", "normal", "int0-3", "rare", "wide"), prob = c(2, 1.5, 1, 0.3, 1))
    X[, j] <- switch(kinds[j], binary = rbinom(n, 1, 0.5), normal = rnorm(n), `int0-3` = sample(0:3, n, TRUE),
                     rare = as.double(seq_len(n) == sample.int(n, 1)), wide = rnorm(n) * 1e3)
  }
  nasty <- pick(c("none", "none", "none", "none", "effect", "effect", "effect", "separation", "collinear", "constant"),
                prob = c(1, 1, 1, 1, 1, 1, 1, 1.2, 0.8, 0.5))
  if (nasty == "effect") {          # times depend on the first covariate
    lp <- 0.8 * (X[, 1] - mean(X[, 1])) / max(sd(X[, 1]), 1e-9)
    if (!is.finite(sum(lp))) lp <- 0
    d$time <- (if (d$tkind %in% c("cont", "fp")) rexp(n, exp(lp)) else ceiling(rexp(n, exp(lp)) * 2)) * d$scale
  }
  if (nasty == "separation" && p >= 1) {     # events only where x1 is at its maximum
    X[, 1] <- rbinom(n, 1, 0.5); kinds[1] <- "binary"
    d$event[X[, 1] == 0] <- 0
  }
  if (nasty == "collinear" && p == 2) X[, 2] <- X[, 1]
  if (nasty == "collinear" && p == 3) X[, 3] <- X[, 1] + X[, 2]
  if (nasty == "constant") X[, p] <- 1
  entry <- if (runif(1) < 0.25) draw_entry(d$time, d$tkind, d$scale) else NULL
  strata <- NULL
  if (runif(1) < 0.3) {
    strata <- sample(c("s1", "s2", "s3")[1:pick(c(2, 3))], n, TRUE)
    if (runif(1) < 0.4) strata[1] <- "s9"
  }
  cluster <- NULL
  if (runif(1) < 0.3) cluster <- if (runif(1) < 0.5) sample(c("c1", "c2", "c3")[1:pick(c(2, 3))], n, TRUE)
                                 else sprintf("id%02d", sample.int(max(1, n %/% 2), n, TRUE))
  list(d = d, X = X, p = p, kinds = kinds, nasty = nasty, entry = entry, strata = strata, cluster = cluster,
       ties = pick(c("efron", "efron", "breslow")),
       kind = sprintf("%s p=%d x=%s nasty=%s%s%s%s", d$kind, p, paste(kinds, collapse = ","), nasty,
                      if (!is.null(entry)) " entry" else "", if (!is.null(strata)) " strata" else "",
                      if (!is.null(cluster)) sprintf(" %d clusters", length(unique(cluster))) else ""))
}
cox_fit <- function(cd, weights = NULL) {
  df <- data.frame(time = cd$d$time, event = cd$d$event)
  for (j in 1:cd$p) df[[sprintf("x%d", j)]] <- cd$X[, j]
  rhs <- paste(sprintf("x%d", 1:cd$p), collapse = " + ")
  if (!is.null(cd$strata)) { df$st <- cd$strata; rhs <- paste(rhs, "+ strata(st)") }
  if (!is.null(cd$cluster)) { df$cl <- cd$cluster; rhs <- paste(rhs, "+ cluster(cl)") }
  lhs <- if (is.null(cd$entry)) "Surv(time, event)" else { df$entry <- cd$entry; "Surv(entry, time, event)" }
  form <- as.formula(paste(lhs, "~", rhs))
  if (is.null(weights)) coxph(form, data = df, ties = cd$ties)
  else { df$w <- weights; coxph(form, data = df, ties = cd$ties, weights = w) }
}
cox_out <- function(f) {
  if (anyNA(coef(f))) stop("NA coefficient: singular design (R drops the term)")
  list(coef = I(unname(coef(f))), se = I(unname(sqrt(diag(if (is.null(f$naive.var)) f$var else f$naive.var)))),
       robust_se = if (is.null(f$naive.var)) NULL else I(unname(sqrt(diag(f$var)))),
       loglik = I(f$loglik), score = unname(f$score), wald = unname(f$wald.test), lr = 2 * diff(f$loglik),
       iter = f$iter, n_events = f$nevent)
}
INFINITE <- "infinite|did not converge|not converge"
cox_input <- function(cd) list(X = cd$X, time = I(cd$d$time), event = I(cd$d$event),
                               entry = if (is.null(cd$entry)) NULL else I(cd$entry),
                               strata = if (is.null(cd$strata)) NULL else I(cd$strata),
                               cluster = if (is.null(cd$cluster)) NULL else I(cd$cluster), ties = cd$ties)
for (i in 1:450) {
  cd <- cox_data()
  r <- fatal_warning(run(cox_out(cox_fit(cd))), INFINITE)
  add("cox", "cox", cd$kind, cox_input(cd), r)
}
for (i in 1:200) {
  cd <- cox_data()
  fit <- run(cox_fit(cd))
  fit_r <- fatal_warning(run(cox_out(cox_fit(cd))), INFINITE)
  r <- list()
  if (!is.null(fit_r$error)) r$error <- paste("the Cox fit:", fit_r$error)
  for (tr in c("km", "rank", "identity")) {
    r[[tr]] <- run({
      z <- cox.zph(fit, transform = tr)
      list(chisq = I(unname(z$table[, 1])), df = I(unname(z$table[, 2])), p = I(unname(z$table[, 3])))
    })
  }
  add("zph", "cox_zph", cd$kind, cox_input(cd), r)
}

# ---------------------------------------------------------------------------------------------
# cumulative_incidence and gray_test
cr_data <- function(n = pick(c(1, 2, 3, 5, 8, 12, 20, 30, 50))) {
  d <- surv_data(n = n)
  ncause <- pick(c(1, 2, 2, 2, 3))
  if (all(d$event == 0) && runif(1) < 0.8) d$event <- as.double(rbinom(d$n, 1, 0.6))   # a few with no events
  status <- ifelse(d$event == 1, sample(1:ncause, d$n, TRUE), 0)
  d$status <- as.double(status)
  d
}
for (i in 1:170) {
  d <- cr_data()
  k <- pick(c(0, 1, 2, 2, 3))             # 0: no group argument
  g <- if (k == 0) NULL else groups_for(d$n, k)
  times <- sort(unique(c(0, min(d$time) / 2, sample(d$time, min(3, d$n)), max(d$time), max(d$time) * 2)))
  r <- run({
    fit <- if (is.null(g)) cuminc(d$time, d$status) else cuminc(d$time, d$status, g)
    tp <- timepoints(fit, times)
    keys <- rownames(tp$est)
    list(curves = lapply(keys, function(key) {
      sp <- regexpr(" [^ ]*$", key)
      list(group = substr(key, 1, sp - 1), cause = as.numeric(substring(key, sp + 1)),
           est = I(unname(tp$est[key, ])), var = I(unname(tp$var[key, ])))
    }))
  })
  add("ci", "cumulative_incidence", paste(d$kind, "groups", k), list(time = I(d$time), status = I(d$status),
      group = if (is.null(g)) NULL else I(g), times = I(times)), r)
}
for (i in 1:170) {
  d <- cr_data()
  if (d$n < 2) d <- cr_data()
  k <- pick(c(2, 2, 3))
  g <- groups_for(d$n, k)
  strata <- if (runif(1) < 0.4) sample(c("s1", "s2", "s3")[1:pick(c(2, 3))], d$n, TRUE) else NULL
  rho <- pick(c(0, 0, 0, 1))
  r <- run({
    fit <- if (is.null(strata)) cuminc(d$time, d$status, g, rho = rho) else cuminc(d$time, d$status, g, strata, rho = rho)
    tb <- fit$Tests
    list(cause = I(as.numeric(rownames(tb))), statistic = I(unname(tb[, "stat"])), p_value = I(unname(tb[, "pv"])),
         df = I(unname(tb[, "df"])))
  })
  add("gray", "gray_test", paste(d$kind, "groups", k, if (!is.null(strata)) "strata" else "", "rho", rho),
      list(time = I(d$time), status = I(d$status), group = I(g), strata = if (is.null(strata)) NULL else I(strata),
           rho = rho), r)
}

# ---------------------------------------------------------------------------------------------
# fine_gray
# crr with a tight gradient tolerance; where 1e-12 is out of reach in floating point (larger n), the
# first of 1e-10, 1e-8 that converges (gtol is stored)
crr_tight <- function(time, status, X, cause) {
  for (g in c(1e-12, 1e-10, 1e-8)) {
    f <- crr(time, status, X, failcode = cause, cencode = 0, gtol = g, maxiter = 100)
    if (isTRUE(f$converged)) { f$gtol <- g; return(f) }
  }
  stop("crr did not converge (gtol 1e-8)")
}
fg_r <- function(time, status, X, cause) {
  f <- crr_tight(time, status, X, cause)
  if (anyNA(f$coef) || anyNA(f$var)) stop("crr: NA coefficient or variance")
  # crr has no check for an infinite coefficient (monotone pseudo-likelihood): where a refit with a
  # far tighter gradient tolerance moves a coefficient, there is no finite estimate
  f2 <- tryCatch(crr(time, status, X, failcode = cause, cencode = 0, gtol = 1e-30, maxiter = 500),
                 error = function(e) stop("monotone pseudo-likelihood: a refit with gtol = 1e-30 fails (",
                                          conditionMessage(e), ")", call. = FALSE))
  moved <- max(abs(f2$coef - f$coef))
  if (moved > 0.1) stop(sprintf("monotone pseudo-likelihood: a refit with gtol = 1e-30 moves a coefficient by %.3g (infinite estimate)", moved))
  list(coef = I(unname(f$coef)), se = I(unname(sqrt(diag(f$var)))), loglik = f$loglik, loglik_null = f$loglik.null,
       gtol = f$gtol)
}
# crr's censoring weights come from survfit, which merges near-equal times (aeqSurv): the same fit
# with aeqSurv switched off, kept as evidence for the class of a disagreement (not as the reference)
without_timefix <- function(expr) {
  orig <- get("aeqSurv", envir = asNamespace("survival"))
  assignInNamespace("aeqSurv", function(x, tolerance) x, ns = "survival")
  on.exit(assignInNamespace("aeqSurv", orig, ns = "survival"))
  expr
}
merges <- function(time) !identical(unclass(survival:::aeqSurv(Surv(time, rep(1, length(time))))),
                                    unclass(Surv(time, rep(1, length(time)))))
for (i in 1:150) {
  d <- cr_data(n = pick(c(5, 8, 12, 20, 30, 50, 80)))
  n <- d$n; p <- pick(c(1, 1, 2))
  X <- matrix(0, n, p)
  for (j in 1:p) X[, j] <- switch(pick(c("binary", "normal", "int")), binary = rbinom(n, 1, 0.5), normal = rnorm(n),
                                  int = sample(0:3, n, TRUE))
  cause <- pick(c(1, 1, 2))
  r <- run(fg_r(d$time, d$status, X, cause))
  if (merges(d$time)) r$without_timefix <- without_timefix(run(fg_r(d$time, d$status, X, cause)))
  add("fg", "fine_gray", sprintf("%s p=%d cause=%d", d$kind, p, cause),
      list(X = X, time = I(d$time), status = I(d$status), cause = cause), r)
}

# ---------------------------------------------------------------------------------------------
# logistic
# Separation (complete or quasi-complete) as a linear programme: is there a direction b != 0 with
# (2y - 1) x_i'b >= 0 for every row?  Then the maximum-likelihood estimate does not exist.
separated <- function(Xd, y) {
  s <- 2 * y - 1
  A <- s * Xd                             # rows s_i x_i
  k <- ncol(Xd)
  # variables b+ (k), b- (k) in [0, 1]; maximise sum_i s_i x_i'b subject to s_i x_i'b >= 0
  obj <- c(colSums(A), -colSums(A))
  con <- rbind(cbind(A, -A), diag(2 * k))
  res <- lp("max", obj, con, c(rep(">=", nrow(A)), rep("<=", 2 * k)), c(rep(0, nrow(A)), rep(1, 2 * k)))
  res$status == 0 && res$objval > 1e-7 * max(1, sum(abs(A)))
}
for (i in 1:220) {
  n <- pick(c(4, 8, 15, 20, 30, 53, 80, 120), prob = c(0.2, 0.5, 1, 1, 1.5, 1.5, 1.5, 1.5))
  p <- pick(c(1, 1, 2, 2, 3))
  X <- matrix(0, n, p); kinds <- character(p)
  for (j in 1:p) {
    kinds[j] <- pick(c("binary", "normal", "int0-3", "rare", "wide"), prob = c(1, 1, 1, 0.15, 1))
    X[, j] <- switch(kinds[j], binary = rbinom(n, 1, 0.5), normal = rnorm(n), `int0-3` = sample(0:3, n, TRUE),
                     rare = as.double(seq_len(n) == sample.int(n, 1)), wide = rnorm(n) * 1e3)
  }
  nasty <- pick(c("none", "none", "none", "strong", "separation", "near-separation", "zero-cell", "collinear"),
                prob = c(1, 1, 1, 1, 0.6, 1, 0.6, 0.5))
  lp <- switch(nasty, strong = 3 * X[, 1] / max(sd(X[, 1]), 1e-9), 0.5 * X[, 1] / max(sd(X[, 1]), 1e-9))
  y <- rbinom(n, 1, plogis(lp - mean(lp)))
  if (nasty == "separation") y <- as.double(X[, 1] > median(X[, 1]))
  if (nasty == "near-separation") { y <- as.double(X[, 1] > median(X[, 1])); y[which.max(X[, 1])] <- 0 }
  if (nasty == "zero-cell") { X[, 1] <- rbinom(n, 1, 0.4); y <- rbinom(n, 1, 0.5); y[X[, 1] == 1] <- 1 }
  if (nasty == "collinear" && p >= 2) X[, 2] <- 2 * X[, 1]
  if (length(unique(y)) < 2) y[1] <- 1 - y[1]
  r <- run({
    # glm's rank tolerance is min(1e-7, epsilon / 1000), 1e-17 here: it would not see collinearity
    if (qr(cbind(1, X))$rank < p + 1) stop("singular design: collinear or constant columns (qr rank)")
    df <- data.frame(y = y, X)
    # the deviance criterion 1e-14 is sometimes out of reach in floating point: then 1e-12, 1e-10
    for (eps in c(1e-14, 1e-12, 1e-10)) {
      f <- suppressWarnings(glm(y ~ ., family = binomial, data = df, control = glm.control(epsilon = eps, maxit = 100)))
      if (f$converged) break
    }
    f <- glm(y ~ ., family = binomial, data = df, control = glm.control(epsilon = eps, maxit = 100))
    s <- summary(f)$coefficients
    out <- list(coef = I(unname(coef(f)[-1])), se = NULL, intercept = unname(coef(f)[1]), converged = f$converged,
                epsilon = eps,
                separated = separated(cbind(1, X), y))
    if (anyNA(coef(f))) out$error <- "NA coefficient: singular design (R drops the term)"
    else out$se <- I(unname(s[-1, 2]))
    if (is.null(out$error) && out$separated) out$error <- "separation: the maximum-likelihood estimate does not exist (LP check)"
    if (is.null(out$error) && !f$converged) out$error <- "glm did not converge"
    out
  })
  add("logit", "logistic", sprintf("n=%d p=%d x=%s nasty=%s", n, p, paste(kinds, collapse = ","), nasty),
      list(X = X, y = I(as.double(y))), r)
}

# ---------------------------------------------------------------------------------------------
# fisher_exact, with the 2x2 conditional odds ratio re-solved tightly
or_tight <- function(m, alternative, conf.level = 0.95) {
  x <- m[1, 1]; m1 <- sum(m[, 1]); n1 <- sum(m[, 2]); k <- sum(m[1, ])
  lo <- max(0, k - n1); hi <- min(k, m1); u <- lo:hi
  lw <- dhyper(u, m1, n1, k, log = TRUE)
  probs <- function(lpsi) { a <- lw + lpsi * u; a <- exp(a - max(a)); a / sum(a) }
  mean_at <- function(lpsi) sum(u * probs(lpsi))
  tail_ge <- function(lpsi) sum(probs(lpsi)[u >= x])     # P(X >= x)
  tail_le <- function(lpsi) sum(probs(lpsi)[u <= x])     # P(X <= x)
  solve <- function(f, target) {
    uniroot(function(l) f(l) - target, c(-5, 5), extendInt = "yes", tol = 1e-13, maxiter = 5000)$root
  }
  est <- if (lo == hi) NaN else if (x == lo) 0 else if (x == hi) Inf else exp(solve(mean_at, x))
  lower <- function(a) if (x == lo) 0 else exp(solve(tail_ge, a))
  upper <- function(a) if (x == hi) Inf else exp(solve(tail_le, a))
  ci <- switch(alternative, less = c(0, upper(1 - conf.level)), greater = c(lower(1 - conf.level), Inf),
               two.sided = c(lower((1 - conf.level) / 2), upper((1 - conf.level) / 2)))
  list(odds_ratio = est, conf_int = I(ci))
}
rand_table <- function(r, c, size) {
  if (size == 0) return(matrix(0, r, c))
  m <- matrix(tabulate(sample.int(r * c, size, TRUE, prob = rexp(r * c)), r * c), r, c)
  m
}
for (i in 1:220) {
  shape <- pick(c("2x2", "2x2", "2x2", "2x2", "2x3", "3x3", "2x4", "3x4", "big"))
  if (shape == "big") {
    # large margins: fisher.test answers in at most a second (ltfu's enumeration refuses most)
    m <- rand_table(pick(c(3, 4)), pick(c(4, 5)), pick(c(60, 90)))
  } else {
    rc <- as.integer(strsplit(shape, "x")[[1]])
    sizes <- if (shape == "3x4") c(1, 2, 4, 6, 10, 15, 20, 25) else c(1, 2, 4, 6, 10, 15, 25, 40, 60)
    m <- rand_table(rc[1], rc[2], pick(sizes))
    if (runif(1) < 0.3) m[sample.int(length(m), 1)] <- 0      # zero cells
  }
  alt <- if (all(dim(m) == 2)) pick(c("two.sided", "two.sided", "less", "greater")) else "two.sided"
  r <- run({
    f <- fisher.test(m, alternative = alt, workspace = 2e7)
    out <- list(p_value = f$p.value)
    if (all(dim(m) == 2)) {
      out$fisher_test_estimate <- unname(f$estimate); out$fisher_test_conf_int <- I(as.numeric(f$conf.int))
      tight <- or_tight(m, alt)
      out$odds_ratio <- tight$odds_ratio; out$conf_int <- tight$conf_int
    }
    out
  })
  add("fisher", "fisher_exact", sprintf("%s n=%d %s", shape, sum(m), alt),
      list(table = m, alternative = sub("two.sided", "two-sided", alt)), r)
}

# fixed degenerate tables: all zeros, a zero row, a single non-zero cell
for (m in list(matrix(0, 2, 2), matrix(0, 2, 3), matrix(c(0, 0, 3, 4), 2), matrix(c(5, 0, 0, 0), 2),
               matrix(c(0, 2, 0, 5, 0, 1), 2))) {
  for (alt in if (all(dim(m) == 2)) c("two.sided", "less", "greater") else "two.sided") {
    r <- run({
      f <- fisher.test(m, alternative = alt)
      out <- list(p_value = f$p.value)
      if (all(dim(m) == 2)) {
        out$fisher_test_estimate <- unname(f$estimate); out$fisher_test_conf_int <- I(as.numeric(f$conf.int))
        tight <- or_tight(m, alt); out$odds_ratio <- tight$odds_ratio; out$conf_int <- tight$conf_int
      }
      out
    })
    add("fisher", "fisher_exact", sprintf("%dx%d n=%d %s degenerate", nrow(m), ncol(m), sum(m), alt),
        list(table = m, alternative = sub("two.sided", "two-sided", alt)), r)
  }
}

# ---------------------------------------------------------------------------------------------
# binomial_ci
for (i in 1:160) {
  n <- pick(c(1, 2, 3, 5, 10, 20, 53, 100, 1000))
  x <- pick(c(0, n, 1, n - 1, sample(0:n, 1), sample(0:n, 1)))
  x <- min(max(x, 0), n)
  lvl <- pick(c(0.95, 0.95, 0.9, 0.99, 0.8))
  method <- pick(c("exact", "exact", "wilson", "wilson-cc"))
  r <- run({
    ci <- switch(method, exact = binom.test(x, n, conf.level = lvl)$conf.int,
                 wilson = prop.test(x, n, conf.level = lvl, correct = FALSE)$conf.int,
                 `wilson-cc` = prop.test(x, n, conf.level = lvl, correct = TRUE)$conf.int)
    list(value = x / n, lower = ci[1], upper = ci[2])
  })
  add("binom", "binomial_ci", sprintf("x=%d n=%d %s %g", x, n, method, lvl),
      list(x = x, n = n, method = method, conf_level = lvl), r)
}

# ---------------------------------------------------------------------------------------------
# wilcoxon_ranksum
for (i in 1:220) {
  nx <- pick(c(1, 2, 3, 5, 8, 12, 20, 30, 49, 50, 60)); ny <- pick(c(1, 2, 3, 5, 8, 12, 20, 30, 49, 55))
  kind <- pick(c("int5", "int5", "cont", "fp", "int20", "half"))
  sc <- pick(c(1, 1, 1e-6, 1e6))
  x <- draw_times(nx, kind) * sc; y <- draw_times(ny, kind) * sc
  if (kind == "cont" && runif(1) < 0.5) y <- y + 0.5 * sc
  exact <- pick(list(NULL, NULL, TRUE, FALSE))
  correct <- pick(c(TRUE, TRUE, FALSE))
  alt <- pick(c("two.sided", "two.sided", "less", "greater"))
  r <- run({
    w <- wilcox.test(x, y, alternative = alt, exact = exact, correct = correct)
    list(statistic = unname(w$statistic), p_value = w$p.value, method = w$method)
  })
  add("wilcox", "wilcoxon_ranksum", sprintf("nx=%d ny=%d %s exact=%s correct=%s %s", nx, ny, kind,
                                            if (is.null(exact)) "NULL" else exact, correct, alt),
      list(x = I(x), y = I(y), exact = exact, correct = correct, alternative = sub("two.sided", "two-sided", alt)), r)
}

# ---------------------------------------------------------------------------------------------
# mantel_byar and landmark (exposure as tmerge's tdc: exposed from the exposure time on; at time 0
# exposed from the start; at or after the end of follow-up ignored)
expo_data <- function() {
  d <- surv_data(n = pick(c(2, 3, 5, 8, 12, 20, 30, 50), prob = c(0.3, 0.3, 1, 1, 1, 1, 1, 1)))
  if (all(d$event == 0) && runif(1) < 0.8) d$event <- as.double(rbinom(d$n, 1, 0.6))
  n <- d$n
  expo <- rep(NA_real_, n)
  has <- runif(n) < pick(c(0.3, 0.5, 0.8))
  where <- pick(c("inside", "inside", "mixed"))
  frac <- if (where == "inside") runif(n) else sample(c(0, 0.5, 1, 1.5, runif(1)), n, TRUE)
  e <- d$time * frac
  if (d$tkind %in% c("int5", "int3", "int20")) e <- round(e / d$scale) * d$scale      # ties with exits
  expo[has] <- e[has]
  d$expo <- expo
  d
}
split_r <- function(time, event, expo) {
  base <- data.frame(id = seq_along(time), time = time, event = event, expo = expo)
  tmerge(base[, c("id", "time", "event")], base, id = id, death = event(time, event), exposed = tdc(expo))
}
for (i in 1:170) {
  d <- expo_data()
  r <- fatal_warning(run({
    s <- split_r(d$time, d$event, d$expo)
    f <- coxph(Surv(tstart, tstop, death) ~ exposed, data = s)
    if (anyNA(coef(f))) stop("NA coefficient: nobody or everybody exposed")
    ci <- summary(f)$conf.int
    list(statistic = unname(f$score), p_value = pchisq(unname(f$score), 1, lower.tail = FALSE),
         hazard_ratio = unname(exp(coef(f))), hr_lower = unname(ci[1, 3]), hr_upper = unname(ci[1, 4]),
         n = length(unique(s$id)), n_exposed = length(unique(s$id[s$exposed == 1])))
  }), INFINITE)
  add("mb", "mantel_byar", d$kind, list(time = I(d$time), event = I(d$event), exposure = I(d$expo)), r)
}
for (i in 1:130) {
  d <- expo_data()
  u <- sort(unique(d$time))
  lm <- pick(c(0, pick(u), u[1] / 2, max(d$time), max(d$time) * 2, median(d$time)))
  r <- run({
    keep <- d$time > lm
    lt <- d$time[keep] - lm; le <- d$event[keep]
    lx <- as.numeric(!is.na(d$expo[keep]) & d$expo[keep] <= lm)
    out <- list(n = sum(keep), n_exposed = sum(lx), n_unexposed = sum(1 - lx))
    med <- function(m) {
      if (!any(m)) return(NULL)
      q <- quantile(survfit(Surv(lt[m], le[m]) ~ 1, conf.type = "log-log"), 0.5)
      list(value = unname(q$quantile), lower = unname(q$lower), upper = unname(q$upper))
    }
    out$median_exposed <- med(lx == 1); out$median_unexposed <- med(lx == 0)
    out$logrank <- run({
      sd <- survdiff(Surv(lt, le) ~ lx)
      list(statistic = sd$chisq, df = sum(sd$exp > 0) - 1, events = sum(sd$obs))
    })
    out
  })
  add("lm", "landmark", sprintf("%s landmark=%g", d$kind, lm),
      list(time = I(d$time), event = I(d$event), exposure = I(d$expo), landmark = lm), r)
}

# ---------------------------------------------------------------------------------------------
# Options that ltfu's API does not offer yet: R's answers are kept so that the cases can be
# switched on when it does (tests/test_crosscheck.py skips them).
for (i in 1:40) {
  cd <- cox_data()
  w <- pick(list(runif(cd$d$n, 0.5, 2), as.double(sample(1:3, cd$d$n, TRUE))))
  r <- fatal_warning(run(cox_out(cox_fit(cd, weights = w))), INFINITE)
  inp <- cox_input(cd); inp$weights <- I(w)
  add("coxw", "cox(weights)", cd$kind, inp, r)
}
for (i in 1:30) {
  d <- surv_data()
  w <- as.double(sample(1:3, d$n, TRUE))
  at <- at_times(d$time)
  r <- run({
    f <- survfit(Surv(d$time, d$event) ~ 1, weights = w, conf.type = "log")
    s <- summary(f, censored = TRUE)
    list(time = I(s$time), n_risk = I(s$n.risk), n_event = I(s$n.event), survival = I(s$surv), std_err = I(s$std.err),
         ci_lower = I(s$lower), ci_upper = I(s$upper))
  })
  add("kmw", "kaplan_meier(weights)", d$kind, list(time = I(d$time), event = I(d$event), weights = I(w)), r)
}

# ---------------------------------------------------------------------------------------------
# nelson_aalen: drawn after every other case, so that those keep their data for the same seed
for (i in 1:200) {
  d <- surv_data()
  entry <- NULL
  if (runif(1) < 0.3) entry <- draw_entry(d$time, d$tkind, d$scale)
  r <- run({
    f <- if (is.null(entry)) survfit(Surv(d$time, d$event) ~ 1) else survfit(Surv(entry, d$time, d$event) ~ 1)
    s <- summary(f, censored = TRUE)
    list(time = I(s$time), n_risk = I(s$n.risk), n_event = I(s$n.event), n_censor = I(s$n.censor),
         cumhaz = I(s$cumhaz), std_err = I(s$std.chaz))
  })
  add("na", "nelson_aalen", paste(d$kind, if (!is.null(entry)) "delayed-entry" else ""),
      list(time = I(d$time), event = I(d$event), entry = if (is.null(entry)) NULL else I(entry)), r)
}

# ---------------------------------------------------------------------------------------------
counts <- table(vapply(CASES, function(c) c$fn, ""))
out <- list(r_version = R.version.string, survival_version = as.character(packageVersion("survival")),
            cmprsk_version = as.character(packageVersion("cmprsk")), seed = 20240611,
            counts = as.list(setNames(as.numeric(counts), names(counts))), cases = CASES)
txt <- js(out)
writeLines(txt, "tests/reference/crosscheck.json", useBytes = TRUE)
cat(sprintf("%d cases, %.1f MB\n", length(CASES), nchar(txt, type = "bytes") / 2^20))
print(counts)
