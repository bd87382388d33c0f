# Golden values for ltfu.stats.exact: binom.test, prop.test, fisher.test, wilcox.test.
# Run from the repository root:  Rscript tests/reference/exact.R
suppressMessages(library(jsonlite))
binom <- list()
for (xn in list(c(14, 53), c(44, 53), c(0, 10), c(10, 10), c(1, 1), c(22, 53), c(5, 21), c(3, 7),
                c(3, 1e6), c(3e5, 1e6), c(999999, 1e6), c(612345, 987654))) {   # and registry counts
  for (lvl in c(0.9, 0.95)) {
    x <- xn[1]; n <- xn[2]
    binom[[length(binom) + 1]] <- list(x = x, n = n, conf_level = lvl,
      exact = as.numeric(binom.test(x, n, conf.level = lvl)$conf.int),
      wilson = as.numeric(suppressWarnings(prop.test(x, n, conf.level = lvl, correct = FALSE))$conf.int),
      wilson_cc = as.numeric(suppressWarnings(prop.test(x, n, conf.level = lvl, correct = TRUE))$conf.int))
  }
}
tables <- list(matrix(c(2, 12, 19, 20), 2), matrix(c(0, 5, 7, 3), 2), matrix(c(10, 0, 0, 10), 2),
               matrix(c(3, 1, 1, 5, 2, 2), 2), matrix(c(4, 2, 3, 6, 1, 5, 2, 8, 3), 3),
               matrix(c(1, 4, 2, 3, 5, 0, 2, 6, 3, 1), 2), matrix(c(12, 9, 20, 12), 2),
               matrix(c(8, 1, 3, 7, 2, 6), 3))
fisher <- lapply(tables, function(m) {
  f <- fisher.test(m)
  out <- list(table = lapply(seq_len(nrow(m)), function(i) m[i, ]), p_value = f$p.value)
  if (all(dim(m) == 2)) { out$odds_ratio <- unname(f$estimate); out$conf_int <- as.numeric(f$conf.int) }
  out
})
set.seed(2018)
samples <- list(
  list(x = c(0.8, 1.9, 3.1, 4.4, 5.0), y = c(2.2, 6.1, 7.3, 8.0)),
  list(x = c(1, 2, 2, 3, 5, 8), y = c(2, 4, 4, 6, 9, 9, 10)),
  list(x = round(rnorm(21, 44, 12)), y = round(rnorm(32, 46, 12))),
  list(x = rnorm(60), y = rnorm(55, 0.4)))
wilcox <- lapply(samples, function(s) {
  w <- suppressWarnings(wilcox.test(s$x, s$y))
  list(x = s$x, y = s$y, statistic = unname(w$statistic), p_value = w$p.value, method = w$method)
})
write_json(list(r_version = R.version.string, binom = binom, fisher = fisher, wilcox = wilcox),
           "tests/reference/exact.json", digits = NA, auto_unbox = TRUE, na = "null")
