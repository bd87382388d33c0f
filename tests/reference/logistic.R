# Golden values for ltfu.stats.logistic (maximum likelihood) from R glm(binomial).
# Run from the repository root:  Rscript tests/reference/logistic.R
suppressMessages(library(jsonlite))
set.seed(53)
n <- 53
d <- data.frame(high = rbinom(n, 1, 0.6), age10 = round(rnorm(n, 4.4, 1.2), 1), dose = rbinom(n, 1, 0.3))
d$y <- rbinom(n, 1, plogis(-2 + 1.8 * d$high + 0.2 * (d$age10 - 4.4)))
f <- glm(y ~ high + age10 + dose, family = binomial, data = d, control = glm.control(epsilon = 1e-14, maxit = 100))  # converged fully: the default 1e-8 deviance criterion leaves ~1e-5 in the coefficients
s <- summary(f)$coefficients
ci <- confint.default(f)
write_json(list(r_version = R.version.string, X = list(d$high, d$age10, d$dose), y = d$y,
                coef = unname(s[-1, 1]), se = unname(s[-1, 2]), p = unname(s[-1, 4]), intercept = unname(s[1, 1]),
                or_lower = unname(exp(ci[-1, 1])), or_upper = unname(exp(ci[-1, 2]))),
           "tests/reference/logistic.json", digits = NA, auto_unbox = TRUE, na = "null")
