# Golden values for ltfu.stats.exact.fisher_exact on r x c tables: R's fisher.test (FEXACT, the network
# algorithm of Mehta & Patel with the bounds of Clarkson, Fan & Joe), default workspace unless noted.
# Run from the repository root:  Rscript tests/reference/fisher_rxc.R
suppressMessages(library(jsonlite))

rows_of <- function(m) lapply(seq_len(nrow(m)), function(i) m[i, ])
fexact <- function(m, ...) tryCatch(fisher.test(m, ...)$p.value, error = function(e) conditionMessage(e))

fixed <- list(
  # the table ltfu used to refuse (about 1e7 tables share its margins)
  list("example 3 x 4, n = 70", matrix(c(8, 9, 8, 5, 5, 2, 6, 6, 9, 5, 4, 3), nrow = 3, byrow = TRUE)),
  # zero rows and columns (R keeps them; they change nothing)
  list("3 x 3 with a zero row", matrix(c(3, 1, 4, 0, 0, 0, 2, 6, 1), 3, byrow = TRUE)),
  list("3 x 4 with a zero column", matrix(c(2, 0, 5, 1, 4, 0, 1, 3, 0, 0, 6, 2), 3, byrow = TRUE)),
  list("4 x 3 with a zero row and a zero column", matrix(c(0, 3, 1, 0, 0, 0, 0, 4, 2, 0, 1, 5), 4, byrow = TRUE)),
  list("2 x 3 with a zero column (a 2 x 2 through FEXACT)", matrix(c(1, 0, 3, 0, 0, 2), 2, byrow = TRUE)),
  list("3 x 2 with a zero row", matrix(c(4, 1, 0, 0, 2, 6), 3, byrow = TRUE)),
  list("3 x 3, one non-empty row", matrix(c(1, 2, 3, 0, 0, 0, 0, 0, 0), 3, byrow = TRUE)),
  list("3 x 3, one non-empty column", matrix(c(0, 4, 0, 0, 1, 0, 0, 2, 0), 3, byrow = TRUE)),
  # sparse tables
  list("4 x 5 sparse", matrix(c(0, 0, 3, 0, 1, 2, 0, 0, 0, 0, 0, 1, 0, 4, 0, 0, 0, 0, 0, 2), 4, byrow = TRUE)),
  list("5 x 5 permutation-like", matrix(c(3, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 5, 0),
                                         5, byrow = TRUE)),
  list("6 x 4 mostly ones", matrix(c(1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 1, 0, 0, 1, 0, 1),
                                   6, byrow = TRUE)),
  list("5 x 6 sparse, n = 40", matrix(c(6, 0, 0, 1, 0, 0, 0, 5, 0, 0, 2, 0, 0, 0, 7, 0, 0, 1,
                                         1, 0, 0, 6, 0, 0, 0, 2, 0, 0, 5, 4), 5, byrow = TRUE)),
  # ties: many tables exactly as probable as the observed one
  list("3 x 3 diagonal of twos", diag(2, 3)),
  list("4 x 4 all ones", matrix(1, 4, 4)),
  list("3 x 4 symmetric margins", matrix(c(2, 1, 1, 2, 1, 2, 2, 1, 1, 1, 1, 1), 3, byrow = TRUE)),
  # p = 1 and tiny p
  list("3 x 3 independence, p = 1", matrix(c(2, 4, 6, 1, 2, 3, 3, 6, 9), 3, byrow = TRUE)),
  list("3 x 3 strong association, n = 150", matrix(c(45, 3, 2, 4, 44, 2, 1, 5, 44), 3, byrow = TRUE)),
  list("2 x 5 strong trend, n = 200", matrix(c(35, 28, 20, 12, 5, 5, 12, 20, 28, 35), 2, byrow = TRUE)),
  # 2 x k and k x 2
  list("2 x 3 small", matrix(c(3, 1, 2, 1, 5, 2), 2, byrow = TRUE)),
  list("2 x 4", matrix(c(10, 6, 3, 8, 4, 9, 12, 5), 2, byrow = TRUE)),
  list("2 x 6", matrix(c(7, 3, 5, 9, 2, 6, 4, 8, 6, 3, 7, 5), 2, byrow = TRUE)),
  list("2 x 8", matrix(c(5, 3, 6, 2, 7, 4, 1, 6, 2, 6, 3, 5, 1, 4, 7, 2), 2, byrow = TRUE)),
  list("2 x 10, n = 100", matrix(c(8, 3, 6, 2, 7, 4, 1, 6, 5, 9, 2, 6, 3, 5, 1, 4, 7, 2, 6, 3), 2, byrow = TRUE)),
  list("3 x 2", matrix(c(12, 5, 7, 9, 3, 10), 3, byrow = TRUE)),
  list("5 x 2", matrix(c(8, 2, 6, 5, 3, 7, 9, 1, 4, 6), 5, byrow = TRUE)),
  list("8 x 2", matrix(c(3, 1, 2, 4, 5, 0, 1, 3, 4, 2, 0, 5, 2, 2, 6, 1), 8, byrow = TRUE)),
  list("12 x 2, n = 60", matrix(c(3, 2, 1, 4, 5, 0, 2, 3, 4, 1, 0, 5, 2, 2, 6, 1, 1, 3, 2, 2, 4, 0, 1, 2),
                                12, byrow = TRUE)),
  # large n, 2 x 3: R answers with its default workspace
  list("2 x 3, n = 4650", matrix(c(1000, 900, 400, 950, 950, 450), 2, byrow = TRUE)),
  list("2 x 3, n = 1340", matrix(c(300, 250, 120, 280, 260, 130), 2, byrow = TRUE)),
  list("3 x 3, n = 255", matrix(c(40, 30, 20, 35, 30, 25, 30, 20, 25), 3, byrow = TRUE)),
  # from the older golden file
  list("3 x 3 (exact.R)", matrix(c(4, 2, 3, 6, 1, 5, 2, 8, 3), 3)),
  list("2 x 5 (exact.R)", matrix(c(1, 4, 2, 3, 5, 0, 2, 6, 3, 1), 2)),
  list("3 x 2 (exact.R)", matrix(c(8, 1, 3, 7, 2, 6), 3))
)

# Random tables, each kept only if R answers it with the default workspace: up to 5 x 6 and n = 150.
set.seed(20240611)
random <- list()
plan <- list(c(3, 3, 60), c(3, 3, 150), c(3, 4, 50), c(3, 4, 100), c(3, 5, 60), c(3, 6, 40), c(4, 4, 40),
             c(4, 4, 70), c(4, 5, 40), c(4, 5, 60), c(5, 5, 35), c(5, 5, 50), c(5, 6, 30), c(5, 6, 45),
             c(4, 6, 40), c(2, 7, 80), c(6, 3, 60), c(6, 5, 30))
for (d in plan) {
  kept <- 0
  for (try_ in 1:40) {
    if (kept == 3) break
    prob <- runif(d[1] * d[2])^sample(c(0.5, 1, 2, 3), 1)
    m <- matrix(rmultinom(1, d[3], prob), d[1])
    p <- fexact(m)
    if (is.numeric(p)) {
      kept <- kept + 1
      random[[length(random) + 1]] <- list(paste0("random ", d[1], " x ", d[2], ", n = ", d[3]), m)
    }
  }
}

cases <- lapply(c(fixed, random), function(x) {
  list(note = x[[1]], table = rows_of(x[[2]]), p_value = fexact(x[[2]]))
})
bad <- vapply(cases, function(x) !is.numeric(x$p_value), TRUE)
if (any(bad)) stop("R refused: ", paste(vapply(cases[bad], `[[`, "", "note"), collapse = "; "))

# Beyond R's default workspace: R stops with "FEXACT error 6/7"; a 100x workspace answers.
beyond <- list(
  list("2 x 3, n = 13400", matrix(c(3000, 2500, 1200, 2800, 2600, 1300), 2, byrow = TRUE)),
  list("3 x 3, n = 510", matrix(c(80, 60, 40, 70, 60, 50, 60, 40, 50), 3, byrow = TRUE)),
  list("3 x 4, n = 150", matrix(c(6, 18, 21, 3, 30, 4, 0, 7, 28, 3, 27, 3), 3, byrow = TRUE)),
  list("2 x 8, n = 150", matrix(c(22, 1, 30, 0, 7, 1, 9, 20, 3, 29, 5, 12, 0, 0, 0, 11), 2, byrow = TRUE))
)
beyond <- lapply(beyond, function(x) {
  list(note = x[[1]], table = rows_of(x[[2]]), default_workspace = fexact(x[[2]]),
       workspace = 2e7, p_value = fexact(x[[2]], workspace = 2e7))
})

stopifnot(all(vapply(beyond, function(x) is.character(x$default_workspace) && is.numeric(x$p_value), TRUE)))

# R's FEXACT is not exact on some tables with six or seven rows and columns: it returns too small a
# p-value, with any workspace, and its own simulation disagrees by tens to hundreds of standard errors.  (Its
# least-probable-completion bound, f4xact, evaluates a few concentrated tables, which is not always a
# bound, so subtrees that should count can be dropped.)  ltfu is checked against the simulation there.
wrong <- list(
  list("7 x 7, n = 50 (R exact 0.023)", matrix(c(2, 1, 1, 1, 1, 0, 0, 1, 0, 3, 0, 0, 0, 1, 0, 0, 2, 1, 4, 2, 1,
                                                 0, 2, 2, 1, 0, 0, 1, 2, 0, 0, 0, 2, 2, 1, 0, 1, 1, 3, 0, 2, 0,
                                                 1, 0, 1, 2, 4, 0, 1), 7, byrow = TRUE)),
  list("7 x 7, n = 40 (R exact 0.198)", matrix(c(0, 2, 2, 1, 0, 0, 2, 1, 0, 1, 2, 2, 1, 1, 1, 0, 2, 0, 0, 3, 2,
                                                 1, 0, 0, 0, 1, 1, 0, 0, 1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 2, 0,
                                                 1, 1, 0, 1, 0, 1, 2), 7, byrow = TRUE)),
  list("6 x 7, n = 45 (R exact 0.317)", matrix(c(2, 1, 1, 2, 1, 2, 0, 1, 1, 0, 3, 1, 3, 2, 3, 1, 0, 0, 3, 0, 3,
                                                 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 2, 2, 0, 0, 2, 2, 1, 0, 1, 1),
                                               6, byrow = TRUE))
)
wrong <- lapply(wrong, function(x) {
  set.seed(1)
  list(note = x[[1]], table = rows_of(x[[2]]), fexact = fexact(x[[2]]), fexact_workspace_2e7 = fexact(x[[2]], workspace = 2e7),
       simulated = fisher.test(x[[2]], simulate.p.value = TRUE, B = 1e6)$p.value, B = 1e6)
})

write_json(list(r_version = R.version.string, cases = cases, beyond_default_workspace = beyond, fexact_wrong = wrong),
           "tests/reference/fisher_rxc.json", digits = NA, auto_unbox = TRUE, na = "null", pretty = FALSE)
