# Golden values for ltfu.stats.interval (Turnbull's NPMLE for interval-censored data), from R survival.
# Run from the repository root:  Rscript tests/reference/interval.R
# Writes tests/reference/interval.json: every case's data (right = null means Inf, right-censored),
# and what survfit(Surv(left, right, type = "interval2") ~ 1) reports.
#
# survfit's Turnbull EM (survival:::survfitTurnbull) stops when the survival curve changes by less
# than 5e-05 in one iteration; that constant is hard-coded (survfit has no control argument for it),
# and it leaves R's curve 1e-5 to 1e-2 away from the NPMLE.  Every 5th iteration it also takes an
# Aitken extrapolation step, which can leave a mass at ~1e-13 where the NPMLE has a positive one;
# EM regrows such a mass only by a factor d_j (~1.03) per iteration, so R stops there, at a lower
# likelihood (case2_n100: 0.4255 for 0.4584).  So every case is fitted three times through survfit:
#   r_*     : survfit as shipped;
#   tight_* : R's code with the stopping constant replaced by TIGHT_TOL (Aitken steps kept);
#   plain_* : R's code with the stopping constant replaced by TIGHT_TOL and no Aitken steps: the
#             plain self-consistency EM, the reference ltfu is compared with to 1e-6.
# The function's text is patched in memory below (and checked to reproduce the shipped function
# first).  All three go through survfit.formula, so R's time merging (aeqSurv, timefix) applies.
suppressMessages({library(survival); library(jsonlite)})

TIGHT_TOL <- 1e-13
TIGHT_MAXIT <- 20000
PLAIN_MAXIT <- 100000

original <- survival:::survfitTurnbull
src <- deparse(original)
i1 <- grep("while (eps > 5e-05)", src, fixed = TRUE); stopifnot(length(i1) == 1)
src[i1] <- sub("while (eps > 5e-05)", "while (eps > .ltfu$tol && iter < .ltfu$maxit)", src[i1], fixed = TRUE)
i0 <- grep("if (TRUE)", src, fixed = TRUE); stopifnot(length(i0) == 1)          # the Aitken block
src[i0] <- sub("if (TRUE)", "if (.ltfu$aitken)", src[i0], fixed = TRUE)
i2 <- grep("who <- (tfit$time < mintime & tfit$n.event > 0)", src, fixed = TRUE); stopifnot(length(i2) == 1)
src[i2] <- paste(".ltfu$iter <- iter;", src[i2])
.ltfu <- new.env(); .ltfu$tol <- 5e-05; .ltfu$maxit <- Inf; .ltfu$iter <- NA; .ltfu$aitken <- TRUE
patched <- eval(parse(text = src))
penv <- new.env(parent = asNamespace("survival")); penv$.ltfu <- .ltfu
environment(patched) <- penv

# the patched function with R's own constant must give exactly what survfit gives
chk_l <- c(0, 1, 2, 0, 3); chk_r <- c(2, 3, Inf, 5, 4)
ref <- survfit(Surv(chk_l, chk_r, type = "interval2") ~ 1)
assignInNamespace("survfitTurnbull", patched, "survival")
same <- survfit(Surv(chk_l, chk_r, type = "interval2") ~ 1)
stopifnot(identical(ref$surv, same$surv), identical(ref$time, same$time))

fit_at <- function(left, right, tol, maxit, aitken = TRUE) {
  .ltfu$tol <- tol; .ltfu$maxit <- maxit; .ltfu$iter <- NA; .ltfu$aitken <- aitken
  fit <- survfit(Surv(left, right, type = "interval2") ~ 1)
  list(fit = fit, iter = .ltfu$iter)
}

PROBS <- c(0.25, 0.5, 0.75)
# jsonlite writes at most 15 significant digits; data and times are written as 17-digit text so
# that they read back bit for bit (a midpoint 0.5 * (1.59 + 1.69) is 1.6400000000000001, not 1.64)
exact <- function(x) ifelse(is.na(x), NA, sprintf("%.17g", x))
case <- function(name, left, right, note = "") {
  stopifnot(length(left) == length(right))
  t0 <- proc.time()[["elapsed"]]
  stock <- suppressWarnings(fit_at(left, right, 5e-05, Inf))
  tight <- suppressWarnings(fit_at(left, right, TIGHT_TOL, TIGHT_MAXIT))
  plain <- suppressWarnings(fit_at(left, right, TIGHT_TOL, PLAIN_MAXIT, aitken = FALSE))
  message(sprintf("%-28s n=%3d  tight iter %6d  plain iter %6d  %.1f s", name, length(left),
                  as.integer(tight$iter), as.integer(plain$iter), proc.time()[["elapsed"]] - t0))
  f <- stock$fit; g <- tight$fit; h <- plain$fit
  stopifnot(identical(f$time, g$time), identical(f$time, h$time))
  q <- quantile(h, PROBS, conf.int = FALSE)
  has_interval <- any(is.finite(right) & left != right)
  out <- list(name = name, note = note, left = exact(left), right = exact(ifelse(is.finite(right), right, NA)),
              r_time = exact(f$time), r_surv = f$surv, r_n_risk = f$n.risk, r_n_event = f$n.event, r_iter = stock$iter,
              tight_surv = g$surv, tight_iter = tight$iter, tight_capped = tight$iter >= TIGHT_MAXIT,
              plain_surv = h$surv, plain_iter = plain$iter, plain_capped = plain$iter >= PLAIN_MAXIT,
              quantile = list(p = PROBS, value = exact(unname(q))),
              has_interval = has_interval)
  if (!has_interval) {
    # no interval-censored row: survfitTurnbull then spreads a phantom subject of weight 1 over the
    # event times (wtmat <- matrix(rep(1, ...), nrow = 1); lwt <- 1), which biases the curve when
    # some rows are right-censored after the last event.  The NPMLE is the Kaplan-Meier estimate.
    km <- survfit(Surv(left, as.numeric(is.finite(right))) ~ 1)
    out$km_surv <- summary(km, times = f$time, extend = TRUE)$surv
    qk <- quantile(km, PROBS, conf.int = FALSE)
    out$km_quantile <- exact(unname(qk))
  }
  out
}

# ---- hand cases -------------------------------------------------------------------------------
cases <- list(
  case("hand_three", c(0, 1, 2), c(2, 3, Inf), "the 3-subject example worked in tests/test_interval.py"),
  case("one_interval", 2, 5),
  case("one_exact", 3, 3),
  case("one_right_censored", 4, Inf),
  case("all_exact", c(1, 2, 3, 5, 8), c(1, 2, 3, 5, 8)),
  case("all_exact_ties", c(1, 2, 2, 3, 3, 3, 4), c(1, 2, 2, 3, 3, 3, 4)),
  case("exact_and_right_censored", c(1, 2, 3, 4, 5, 6), c(1, 2, Inf, 4, Inf, Inf),
       "no interval row: R's phantom subject biases survfit; the NPMLE is Kaplan-Meier"),
  case("all_right_censored", c(2, 3, 5, 8), c(Inf, Inf, Inf, Inf)),
  case("nested", c(0, 2, 4, 1), c(10, 8, 6, 9)),
  case("sharing_ends", c(0, 2, 4, 0), c(2, 4, 6, 4)),
  case("tied_intervals", c(1, 1, 1, 2, 2, 0), c(3, 3, 3, 5, 5, 4)),
  case("starting_at_zero", c(0, 0, 0, 2), c(1, 2, 3, Inf)),
  case("exact_at_interval_ends", c(2, 0, 2, 4), c(2, 2, 4, 4)),
  case("exact_inside_interval", c(2, 1), c(2, 3), "R adds a candidate at 2.5 whose mass is 0 at the NPMLE"),
  case("exact_at_zero", c(0, 0, 1), c(0, 2, 3)),
  case("identical_intervals", rep(1, 5), rep(4, 5)),
  case("flat_at_half", c(0, 2), c(1, 3), "median by R's midpoint rule: (0.5 + 2.5) / 2"),
  case("mass_at_infinity", c(0, 1, 5, 6), c(2, 3, Inf, Inf)),
  case("disjoint_and_covering", c(0, 2, 0), c(1, 3, 3)),
  case("mixed_small", c(0, 1, 2, 2, 3, 5, 0), c(1, 4, 2, Inf, 6, 5, 7)),
  case("timefix_overlap", c(0, 0.3, 0.5), c(0.1 + 0.2, 1, 2),
       "0.1 + 0.2 and 0.3 are one time to R's aeqSurv, so (0, 0.1+0.2] and (0.3, 1] do not overlap")
)

# ---- small random integer grids (ties, shared ends, zero-mass innermost intervals) -------------
for (s in 1:10) {
  set.seed(100 + s)
  n <- sample(4:14, 1)
  l <- sample(0:6, n, replace = TRUE)
  r <- l + sample(1:4, n, replace = TRUE)
  r[runif(n) < 0.2] <- Inf
  ex <- runif(n) < 0.15; r[ex] <- l[ex]
  cases[[length(cases) + 1]] <- case(sprintf("grid_seed%d", s), l, r)
}

# ---- current status data ((0, C] or (C, Inf)): EM at its slowest ------------------------------
for (n in c(20, 50, 120)) {
  set.seed(200 + n)
  C <- round(runif(n, 0, 10), 2); T <- rexp(n, 1 / 4)
  cases[[length(cases) + 1]] <- case(sprintf("current_status_n%d", n), ifelse(T <= C, 0, C), ifelse(T <= C, C, Inf))
}

# ---- case II: two inspections U < V, event in (0, U], (U, V] or (V, Inf) ----------------------
for (n in c(10, 30, 100, 200)) {
  set.seed(300 + n)
  U <- round(runif(n, 0.2, 3), 3); V <- U + round(runif(n, 0.2, 3), 3); T <- rweibull(n, 1.3, 2.5)
  l <- ifelse(T <= U, 0, ifelse(T <= V, U, V)); r <- ifelse(T <= U, U, ifelse(T <= V, V, Inf))
  cases[[length(cases) + 1]] <- case(sprintf("case2_n%d", n), l, r)
}

# ---- mixed exact / interval / right-censored, continuous times --------------------------------
for (n in c(15, 60, 150)) {
  set.seed(400 + n)
  T <- round(rweibull(n, 0.9, 12), 2)
  l <- pmax(0, round(T - runif(n, 0, 4), 2)); r <- round(T + runif(n, 0, 4), 2)
  ex <- runif(n) < 0.3; l[ex] <- T[ex]; r[ex] <- T[ex]
  cen <- runif(n) < 0.25; r[cen] <- Inf; l[cen] <- round(runif(sum(cen), 0, 20), 2)
  cases[[length(cases) + 1]] <- case(sprintf("mixed_n%d", n), l, r)
}

# ---- CAR-T transgene persistence: assessments at fixed visits ----------------------------------
# Loss of the CAR transgene is known only to lie between the last visit with detectable transgene
# and the first visit without; visits can be missed, and follow-up can end at any visit.
schedule <- function(n, seed, jitter = FALSE, miss = 0.15, scale = 300) {
  set.seed(seed)
  visits <- c(28, 90, 180, 365, 730)
  window <- c(3, 7, 14, 30, 30)
  T <- rweibull(n, 0.8, scale)
  l <- numeric(n); r <- numeric(n)
  for (i in seq_len(n)) {
    v <- visits
    if (jitter) v <- v + round(runif(length(v), -window, window))
    last <- sample(seq_along(v), 1, prob = c(0.05, 0.05, 0.1, 0.2, 0.6))   # follow-up ends at visit last
    seen <- v[seq_len(last)][runif(last) >= miss | seq_len(last) == last]  # missed visits (never the last)
    lost <- seen[seen >= T[i]]
    if (length(lost) == 0) { l[i] <- max(seen); r[i] <- Inf }
    else { r[i] <- lost[1]; before <- seen[seen < T[i]]; l[i] <- if (length(before)) max(before) else 0 }
  }
  list(l = l, r = r)
}
for (spec in list(list(20, 501, FALSE), list(60, 502, FALSE), list(200, 503, FALSE),
                  list(40, 504, TRUE), list(200, 505, TRUE))) {
  d <- schedule(spec[[1]], spec[[2]], spec[[3]])
  cases[[length(cases) + 1]] <- case(sprintf("cart_visits_n%d%s", spec[[1]], if (spec[[3]]) "_jittered" else ""),
                                     d$l, d$r, "assessment schedule: day 28, 90, 180, 365, 730")
}
d <- schedule(200, 506, miss = 0.4, scale = 120)
cases[[length(cases) + 1]] <- case("cart_visits_n200_missed", d$l, d$r, "40% of visits missed, early loss")

# ---- wide overlapping intervals, n = 200 -------------------------------------------------------
set.seed(601)
n <- 200; T <- rexp(n, 1 / 10); a <- runif(n, 0, 8); b <- runif(n, 0, 8)
l <- round(pmax(0, T - a), 3); r <- round(T + b, 3); r[runif(n) < 0.1] <- Inf
cases[[length(cases) + 1]] <- case("wide_overlap_n200", l, r)

out <- list(r_version = R.version.string, survival_version = as.character(packageVersion("survival")),
            tight_tol = TIGHT_TOL, tight_maxit = TIGHT_MAXIT, plain_maxit = PLAIN_MAXIT, cases = cases)
write_json(out, "tests/reference/interval.json", digits = NA, auto_unbox = TRUE, na = "null",
           null = "null", pretty = FALSE)
cat(length(cases), "cases\n")
for (c in cases) cat(sprintf("%-28s n=%3d  R iter %4d  tight %6d  plain %6d  max|R - plain| = %.1e  max|tight - plain| = %.1e\n",
                             c$name, length(c$left), as.integer(c$r_iter), as.integer(c$tight_iter),
                             as.integer(c$plain_iter), max(abs(c$r_surv - c$plain_surv)),
                             max(abs(c$tight_surv - c$plain_surv))))
