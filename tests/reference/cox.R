# Golden values for ltfu.stats.cox and ltfu.stats.cox_zph, from R survival.
# Run from the repository root:  Rscript tests/reference/cox.R
suppressMessages({library(survival); library(jsonlite)})
case <- function(name, data, terms, time, event, entry = NULL, strata = NULL, cluster = NULL, ties = "efron") {
  rhs <- paste(terms, collapse = " + ")
  lhs <- if (is.null(entry)) sprintf("Surv(%s, %s)", time, event) else sprintf("Surv(%s, %s, %s)", entry, time, event)
  if (!is.null(strata)) rhs <- paste(rhs, sprintf("+ strata(%s)", strata))
  if (!is.null(cluster)) rhs <- paste(rhs, sprintf("+ cluster(%s)", cluster))
  f <- coxph(as.formula(paste(lhs, "~", rhs)), data = data, ties = ties)
  s <- summary(f)
  out <- list(name = name, ties = ties, terms = terms,
              X = lapply(terms, function(v) data[[v]]), time = data[[time]], event = data[[event]],
              entry = if (is.null(entry)) NULL else data[[entry]],
              strata = if (is.null(strata)) NULL else as.character(data[[strata]]),
              cluster = if (is.null(cluster)) NULL else as.character(data[[cluster]]),
              coef = unname(coef(f)), se = unname(sqrt(diag(if (is.null(f$naive.var)) f$var else f$naive.var))),
              robust_se = if (is.null(f$naive.var)) NULL else unname(sqrt(diag(f$var))),
              loglik = f$loglik, score = unname(f$score), wald = unname(f$wald.test),
              lr = 2 * diff(f$loglik), n_events = f$nevent,
              hr_lower = unname(s$conf.int[, 3]), hr_upper = unname(s$conf.int[, 4]))
  zph <- list()
  for (tr in c("km", "rank", "identity")) {
    z <- cox.zph(f, transform = tr)
    zph[[tr]] <- list(chisq = unname(z$table[, 1]), df = unname(z$table[, 2]), p = unname(z$table[, 3]))
  }
  out$zph <- zph
  out
}
lung2 <- na.omit(lung[, c("time", "status", "age", "sex", "ph.ecog", "wt.loss")])
lung2$status <- lung2$status - 1
vet <- veteran
vet$squamous <- as.numeric(vet$celltype == "squamous"); vet$smallcell <- as.numeric(vet$celltype == "smallcell")
vet$adeno <- as.numeric(vet$celltype == "adeno"); vet$trt2 <- as.numeric(vet$trt == 2)
heart2 <- heart; heart2$transplant <- as.numeric(heart2$transplant) - 1
ov <- ovarian; ov$rx2 <- as.numeric(ov$rx == 2)
bin <- lung2; bin$male <- as.numeric(bin$sex == 1)
cases <- list(
  case("lung_efron", lung2, c("age", "sex", "ph.ecog"), "time", "status"),
  case("lung_breslow", lung2, c("age", "sex", "ph.ecog"), "time", "status", ties = "breslow"),
  case("lung_strata", lung2, c("age", "sex", "wt.loss"), "time", "status", strata = "ph.ecog"),
  case("veteran_dummies", vet, c("trt2", "karno", "squamous", "smallcell", "adeno"), "time", "status"),
  case("ovarian", ov, c("age", "rx2", "ecog.ps"), "futime", "fustat"),
  case("heart_counting_process", heart2, c("age", "transplant", "surgery"), "stop", "event", entry = "start"),
  case("heart_cluster", heart2, c("age", "transplant", "surgery"), "stop", "event", entry = "start", cluster = "id"),
  case("heart_cluster_breslow", heart2, c("age", "transplant"), "stop", "event", entry = "start", cluster = "id",
       ties = "breslow"),
  case("lung_one_binary", bin, c("male"), "time", "status")
)

write_json(list(r_version = R.version.string, survival_version = as.character(packageVersion("survival")),
                cases = cases),
           "tests/reference/cox.json", digits = NA, auto_unbox = TRUE, na = "null")
