# Golden values for ltfu.stats.rates (incidence rates and rate ratios), from R's poisson.test.
# Run from the repository root:  Rscript tests/reference/rates.R   (writes tests/reference/rates.json)
# Byar's interval has no base-R function; its closed form is checked by hand in tests/test_rates.py.
suppressMessages(library(jsonlite))
one <- list(); two <- list()
for (k in c(0, 1, 2, 3, 7, 14, 50, 333)) for (T in c(0.5, 12.25, 100, 2870.5)) for (cl in c(0.9, 0.95, 0.99)) {
  r <- poisson.test(k, T, conf.level = cl)
  one[[length(one) + 1]] <- list(events = k, person_time = T, conf_level = cl, rate = unname(r$estimate),
                                 lower = r$conf.int[1], upper = r$conf.int[2])
}
pairs <- list(c(3, 0), c(0, 4), c(1, 1), c(5, 2), c(12, 30), c(40, 41), c(2, 17), c(100, 60))
times <- list(c(10, 10), c(55.5, 120.25), c(1000, 300))
for (k in pairs) for (T in times) for (cl in c(0.95, 0.9)) {
  r <- poisson.test(k, T, conf.level = cl)
  two[[length(two) + 1]] <- list(events = k, person_time = T, conf_level = cl,
                                 ratio = unname(r$estimate), lower = r$conf.int[1], upper = r$conf.int[2],
                                 p_value = r$p.value)
}
out <- list(r_version = R.version.string, one_sample = one, two_sample = two)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", na = "null"), "tests/reference/rates.json")
