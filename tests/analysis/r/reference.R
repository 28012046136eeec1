# Reference values for the analysis engine, computed with base R (and geepack for GEE) on the
# project's synthetic study (tests/analysis/data/study_*.csv).
#
#   Rscript tests/analysis/r/reference.R tests/analysis/data tests/analysis/r/expected \
#       > tests/analysis/r/expected/reference.Rout 2>&1
#
# Every statistic is computed the way a statistician would in R: wilcox.test, t.test,
# shapiro.test, mcnemar.test, binom.test, p.adjust, cor.test, aov for the ICC, explicit kappa
# formulas (Cohen 1968 / Fleiss-Cohen-Everitt 1969; Fleiss 1971 as irr::kappam.fleiss; Conger
# 1980 with Gwet's 2014 variance), geepack::geeglm, and an explicit Obuchowski-Rockette/Hillis
# analysis with the case jackknife. Each table is written to <out>/<name>.csv with the same key
# columns as the Python tables; the printed output (htest objects, GEE summaries) is the .Rout.
suppressPackageStartupMessages(library(geepack))
args <- commandArgs(trailingOnly = TRUE)
data_dir <- if (length(args) >= 1) args[1] else "tests/analysis/data"
out_dir <- if (length(args) >= 2) args[2] else "tests/analysis/r/expected"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
options(digits = 15, width = 120)
cat(R.version.string, "\n", "geepack", as.character(packageVersion("geepack")), "\n")

a <- read.csv(file.path(data_dir, "study_answers.csv"), colClasses = c(rep("character", 6), "numeric"),
              na.strings = character(0))
truth <- read.csv(file.path(data_dir, "study_reference.csv"), colClasses = c("character", "character", "character", "numeric"),
                  na.strings = character(0))
REF <- "Standard"
write <- function(df, name) write.csv(df, file.path(out_dir, paste0(name, ".csv")), row.names = FALSE)
bind <- function(lst) do.call(rbind, lst)

# Derived SNR = roi_cord / roi_background_sd per reader x case x sequence x arm x level
sig <- a[a$item == "roi_cord", ]; bg <- a[a$item == "roi_background_sd", ]
snr <- merge(sig, bg, by = c("reader", "case", "sequence", "arm", "level"))
snr <- data.frame(reader = snr$reader, case = snr$case, sequence = snr$sequence, arm = snr$arm, item = "snr_cord",
                  level = snr$level, value = snr$value.x / snr$value.y)
a <- rbind(a, snr)

# ---- noninferiority (seed 000 Table 4): case means over readers, one-sided Wilcoxon, BH -------------------
margins <- list(snr = c(-0.5, "greater"), confidence_dx = c(-0.5, "greater"), artifacts = c(0.2, "less"))
cm <- aggregate(value ~ sequence + item + arm + case + level, data = a[a$item %in% names(margins), ], FUN = mean)
ni <- list()
for (s in sort(unique(cm$sequence))) for (it in sort(names(margins))) for (arm in sort(setdiff(unique(cm$arm), REF))) {
  x <- cm[cm$sequence == s & cm$item == it & cm$arm == arm, ]; y <- cm[cm$sequence == s & cm$item == it & cm$arm == REF, ]
  m <- merge(x, y, by = c("case", "level")); m <- m[order(m$case, m$level), ]
  mu <- as.numeric(margins[[it]][1]); alt <- margins[[it]][2]
  w <- suppressWarnings(wilcox.test(m$value.x, m$value.y, paired = TRUE, mu = mu, alternative = alt, exact = FALSE,
                                    correct = TRUE, conf.int = TRUE))
  cat("\n## noninferiority", s, it, arm, "\n"); print(w)
  # the opposite one-sided test (H1: worse than the margin allows): "inferior" when it rejects after adjustment
  wi <- suppressWarnings(wilcox.test(m$value.x, m$value.y, paired = TRUE, mu = mu, exact = FALSE, correct = TRUE,
                                     alternative = if (alt == "greater") "less" else "greater"))
  ni[[length(ni) + 1]] <- data.frame(sequence = s, item = it, arm = arm, reader = "all", n = nrow(m),
    statistic = unname(w$statistic), p_value = w$p.value, pseudomedian = unname(w$estimate),
    conf_bound = if (alt == "greater") w$conf.int[1] else w$conf.int[2], p_inferior = wi$p.value)
}
ni <- bind(ni); ni$p_adjusted <- p.adjust(ni$p_value, "BH"); ni$p_inferior_adjusted <- p.adjust(ni$p_inferior, "BH")
write(ni, "noninferiority")

# the same per reader (unit = "reader"), Bonferroni across the table (fdr = "bonferroni")
nr <- list()
for (s in sort(unique(a$sequence))) for (it in sort(names(margins))) for (arm in sort(setdiff(unique(cm$arm), REF)))
  for (r in sort(unique(a$reader))) {
    x <- a[a$sequence == s & a$item == it & a$arm == arm & a$reader == r, ]
    y <- a[a$sequence == s & a$item == it & a$arm == REF & a$reader == r, ]
    m <- merge(x, y, by = c("case", "level")); m <- m[order(m$case, m$level), ]
    mu <- as.numeric(margins[[it]][1]); alt <- margins[[it]][2]
    w <- suppressWarnings(wilcox.test(m$value.x, m$value.y, paired = TRUE, mu = mu, alternative = alt, exact = FALSE,
                                      correct = TRUE, conf.int = TRUE))
    nr[[length(nr) + 1]] <- data.frame(sequence = s, item = it, arm = arm, reader = r, n = nrow(m),
      statistic = unname(w$statistic), p_value = w$p.value, pseudomedian = unname(w$estimate),
      conf_bound = if (alt == "greater") w$conf.int[1] else w$conf.int[2])
  }
nr <- bind(nr); nr$p_adjusted <- p.adjust(nr$p_value, "bonferroni"); write(nr, "noninferiority_reader")

# ---- paired tests per reader (seed 001 Table 2) --------------------------------------------------------------
pitems <- c("snr", "confidence_dx", "artifacts", "roi_cord", "roi_background_sd", "snr_cord")
pr <- list()
for (s in sort(unique(a$sequence))) for (it in pitems) for (arm in sort(setdiff(unique(a$arm[!grepl("|", a$arm, fixed = TRUE)]), REF)))
  for (r in sort(unique(a$reader))) {
    x <- a[a$sequence == s & a$item == it & a$arm == arm & a$reader == r, ]
    y <- a[a$sequence == s & a$item == it & a$arm == REF & a$reader == r, ]
    m <- merge(x, y, by = c("case", "level")); if (nrow(m) == 0) next
    d <- m$value.x - m$value.y
    tp <- if (length(unique(d)) > 1) t.test(m$value.x, m$value.y, paired = TRUE)$p.value else NA
    wp <- suppressWarnings(wilcox.test(m$value.x, m$value.y, paired = TRUE, exact = FALSE, correct = TRUE))
    sw <- if (length(unique(d)) > 1 && length(d) >= 3) shapiro.test(d) else list(statistic = NA, p.value = NA)
    pr[[length(pr) + 1]] <- data.frame(sequence = s, item = it, arm = arm, reader = r, n = length(d), t_p = tp,
      wilcoxon_v = unname(wp$statistic), wilcoxon_p = wp$p.value, shapiro_w = unname(sw$statistic), shapiro_p = sw$p.value,
      mean_difference = mean(d))
  }
write(bind(pr), "paired")

# ---- kappa ------------------------------------------------------------------------------------------------------
wmat <- function(cats, type) {
  q <- length(cats); if (type == "none") return(diag(q))
  d <- abs(outer(cats, cats, "-")) / (max(cats) - min(cats))
  if (type == "linear") 1 - d else 1 - d^2
}
cohen <- function(x, y, cats, type) {     # Fleiss, Cohen & Everitt (1969) ASE, as SAS PROC FREQ
  ok <- !is.na(x) & !is.na(y); x <- x[ok]; y <- y[ok]; n <- length(x)
  p <- table(factor(x, levels = cats), factor(y, levels = cats)) / n; p <- matrix(p, length(cats))
  w <- wmat(cats, type); pr <- rowSums(p); pc <- colSums(p)
  po <- sum(w * p); pe <- sum(w * outer(pr, pc)); k <- (po - pe) / (1 - pe)
  wr <- as.vector(w %*% pc); wc <- as.vector(pr %*% w)
  v <- (sum(p * (w - outer(wr, wc, "+") * (1 - k))^2) - (k - pe * (1 - k))^2) / (n * (1 - pe)^2)
  c(kappa = k, se = sqrt(max(v, 0)), n = n)   # v is -1e-17 rather than 0 when kappa = 1
}
fleiss <- function(m, cats) {             # irr::kappam.fleiss with its SE under H0
  m <- m[complete.cases(m), , drop = FALSE]; ns <- nrow(m); nr <- ncol(m)
  tt <- t(apply(m, 1, function(v) table(factor(v, levels = cats))))
  po <- sum((rowSums(tt^2) - nr) / (nr * (nr - 1)) / ns); pj <- colSums(tt) / (ns * nr); pe <- sum(pj^2)
  k <- (po - pe) / (1 - pe); qj <- 1 - pj
  v <- (2 / (sum(pj * qj)^2 * (ns * nr * (nr - 1)))) * (sum(pj * qj)^2 - sum(pj * qj * (qj - pj)))
  c(kappa = k, se = sqrt(v), n = ns)
}
conger <- function(m, cats, type) {       # Conger (1980) kappa, complete data; Gwet (2014) linearization SE
  m <- m[complete.cases(m), , drop = FALSE]; n <- nrow(m); r <- ncol(m); q <- length(cats); w <- wmat(cats, type)
  rik <- t(apply(m, 1, function(v) table(factor(v, levels = cats))))            # n x q
  pa <- mean(rowSums(rik * (rik %*% t(w) - 1)) / (r * (r - 1)))
  pgk <- t(apply(m, 2, function(v) table(factor(v, levels = cats)))) / n        # r x q
  pk <- colMeans(pgk); s2 <- (t(pgk) %*% pgk - r * outer(pk, pk)) / (r - 1)
  pe <- sum(w * (outer(pk, pk) - s2 / r)); k <- (pa - pe) / (1 - pe)
  # per-unit chance agreement (Gwet 2014, ch. 5): complete data, so epsilon = 1 and n_g = n
  lam <- matrix(0, n, r)
  for (kk in 1:q) { lk <- matrix(0, n, r)
    for (ll in 1:q) lk <- lk + w[kk, ll] * (outer(rep(1, n), rep(1, r)) * (m == cats[ll]))
    lam <- lam + lk * (r * mean(pgk[, kk]) - matrix(pgk[, kk], n, r, byrow = TRUE)) }
  pe_i <- rowSums(lam) / (r * (r - 1)); pa_i <- rowSums(rik * (rik %*% t(w) - 1)) / (r * (r - 1))
  k_i <- (pa_i - pe) / (1 - pe) - 2 * (1 - k) * (pe_i - pe) / (1 - pe)
  c(kappa = k, se = sqrt(sum((k_i - k)^2) / (n * (n - 1))), n = n)
}
# Wald interval truncated to [-1, 1] (irrCAC truncates Conger's at 1; the engine cuts both ends, with a note)
kci <- function(k, crit) data.frame(ci_low = max(-1, k[["kappa"]] - crit * k[["se"]]),
                                    ci_high = min(1, k[["kappa"]] + crit * k[["se"]]))
Z <- qnorm(0.975)
kitems <- list(snr = 1:5, confidence_dx = 1:5, stenosis_conf = 1:5, artifacts = 0:1, stenosis = 0:1)
kw <- list(snr = c("none", "linear", "quadratic"), confidence_dx = c("none", "linear", "quadratic"),
           stenosis_conf = c("none", "linear", "quadratic"), artifacts = "none", stenosis = "none")
kap <- list()
for (it in names(kitems)) for (s in sort(unique(a$sequence[a$item == it]))) {
  d <- a[a$item == it & a$sequence == s, ]; cats <- kitems[[it]]
  for (arm in sort(unique(d$arm))) {
    wide <- reshape(d[d$arm == arm, c("case", "level", "reader", "value")], idvar = c("case", "level"), timevar = "reader",
                    direction = "wide"); rd <- sort(unique(d$reader)); m <- as.matrix(wide[, paste0("value.", rd)])
    for (i in 1:(length(rd) - 1)) for (j in (i + 1):length(rd)) for (wt in kw[[it]]) {
      k <- cohen(m[, i], m[, j], cats, wt)
      kap[[length(kap) + 1]] <- data.frame(scope = "interreader", sequence = s, item = it, arm = arm,
        reader = paste0(rd[i], "|", rd[j]), method = "cohen", weights = wt, kappa = k[["kappa"]], se = k[["se"]], n = k[["n"]],
        kci(k, Z))
    }
    cw <- if (length(cats) > 2) "quadratic" else "none"; k <- conger(m, cats, cw)
    kap[[length(kap) + 1]] <- data.frame(scope = "interreader", sequence = s, item = it, arm = arm, reader = "all",
      method = "conger", weights = cw, kappa = k[["kappa"]], se = k[["se"]], n = k[["n"]], kci(k, qt(0.975, k[["n"]] - 1)))
    k <- fleiss(m, cats)
    kap[[length(kap) + 1]] <- data.frame(scope = "interreader", sequence = s, item = it, arm = arm, reader = "all",
      method = "fleiss", weights = "none", kappa = k[["kappa"]], se = k[["se"]], n = k[["n"]], kci(k, Z))
  }
  for (r in sort(unique(d$reader))) for (arm in sort(setdiff(unique(d$arm), REF))) {
    m <- merge(d[d$reader == r & d$arm == arm, ], d[d$reader == r & d$arm == REF, ], by = c("case", "level"))
    for (wt in kw[[it]]) { k <- cohen(m$value.x, m$value.y, cats, wt)
      kap[[length(kap) + 1]] <- data.frame(scope = "interprotocol", sequence = s, item = it, arm = arm, reader = r,
        method = "cohen", weights = wt, kappa = k[["kappa"]], se = k[["se"]], n = k[["n"]], kci(k, Z)) }
  }
}
write(bind(kap), "kappa")

# ---- ICC(A,1) from a two-way ANOVA (McGraw & Wong 1996, as irr::icc twoway/agreement/single) ------------------
icc <- list()
for (it in c("roi_background_sd", "roi_cord", "snr_cord")) for (s in sort(unique(a$sequence[a$item == it])))
  for (arm in sort(unique(a$arm[a$item == it]))) {
    d <- a[a$item == it & a$sequence == s & a$arm == arm, ]
    fit <- aov(value ~ factor(case) + factor(reader), data = d); ms <- summary(fit)[[1]][["Mean Sq"]]
    cat("\n## ICC", it, s, arm, "\n"); print(summary(fit))
    n <- length(unique(d$case)); k <- length(unique(d$reader)); MSR <- ms[1]; MSC <- ms[2]; MSE <- ms[3]
    ICC <- (MSR - MSE) / (MSR + (k - 1) * MSE + k * (MSC - MSE) / n)
    A <- k * ICC / (n * (1 - ICC)); B <- 1 + k * ICC * (n - 1) / (n * (1 - ICC))
    v <- (A * MSC + B * MSE)^2 / ((A * MSC)^2 / (k - 1) + (B * MSE)^2 / ((n - 1) * (k - 1)))
    FL <- qf(0.975, n - 1, v); FU <- qf(0.975, v, n - 1)
    icc[[length(icc) + 1]] <- data.frame(sequence = s, item = it, arm = arm, icc = ICC,
      ci_low = max(-1, n * (MSR - FL * MSE) / (FL * (k * MSC + (k * n - k - n) * MSE) + n * MSR)),
      ci_high = min(1, n * (FU * MSR - MSE) / (k * MSC + (k * n - k - n) * MSE + n * FU * MSR)),
      p_value = pf(MSR / MSE, n - 1, (n - 1) * (k - 1), lower.tail = FALSE))
  }
write(bind(icc), "icc")

# ---- McNemar (seed 001 Table 5) --------------------------------------------------------------------------------
f <- a[a$item == "stenosis", ]
mc <- merge(f[f$arm != REF, ], f[f$arm == REF, ], by = c("reader", "case", "sequence", "level", "item"))
mcn <- list()
for (arm in sort(unique(mc$arm.x))) for (rr in c("all", sort(unique(mc$reader)))) for (lv in c("all", sort(unique(mc$level)))) {
  d <- mc[mc$arm.x == arm & (rr == "all" | mc$reader == rr) & (lv == "all" | mc$level == lv), ]
  tab <- table(factor(d$value.y, levels = c(1, 0)), factor(d$value.x, levels = c(1, 0)))   # rows reference, cols arm
  b <- tab[1, 2]; cc <- tab[2, 1]; mt <- suppressWarnings(mcnemar.test(tab))
  mcn[[length(mcn) + 1]] <- data.frame(reader = rr, finding = "stenosis", sequence = d$sequence[1], level = lv, arm = arm,
    both = tab[1, 1], reference_only = b, arm_only = cc, neither = tab[2, 2],
    p_exact = if (b + cc > 0) binom.test(b, b + cc)$p.value else NA,
    statistic = unname(mt$statistic), p_asymptotic = mt$p.value)
}
write(bind(mcn), "mcnemar")

# ---- accuracy: Clopper-Pearson intervals; GEE across readers and per reader (seed 002) ----------------------------
u <- merge(f, truth, by.x = c("case", "level", "item"), by.y = c("case", "level", "finding"))
u$correct <- as.integer(u$value == u$present)
acc <- list(); gee <- list()
for (arm in sort(unique(u$arm))) for (rr in c("all", sort(unique(u$reader)))) for (ms in c("sensitivity", "specificity")) {
  d <- u[u$arm == arm & (rr == "all" | u$reader == rr) & u$present == (ms == "sensitivity"), ]
  bt <- binom.test(sum(d$correct), nrow(d))
  acc[[length(acc) + 1]] <- data.frame(finding = "stenosis", sequence = d$sequence[1], reader = rr, arm = arm, measure = ms,
    n = nrow(d), correct = sum(d$correct), estimate = mean(d$correct), ci_low = bt$conf.int[1], ci_high = bt$conf.int[2])
}
write(bind(acc), "accuracy")
for (arm in sort(setdiff(unique(u$arm), REF))) for (rr in c("all", sort(unique(u$reader)))) for (ms in c("sensitivity", "specificity")) {
  d <- u[u$arm %in% c(arm, REF) & (rr == "all" | u$reader == rr) & u$present == (ms == "sensitivity"), ]
  d <- d[order(d$case, d$reader, d$level, d$arm), ]; d$x <- as.integer(d$arm == arm); d$id <- as.integer(factor(d$case))
  # geepack stops at epsilon = 1e-4 by default; converge fully so that both sides solve the same equations
  fit <- geeglm(correct ~ x, id = id, data = d, family = binomial, corstr = "exchangeable",
                control = geese.control(epsilon = 1e-12, maxit = 200))
  sm <- summary(fit); cat("\n## GEE", arm, rr, ms, "\n"); print(sm)
  co <- sm$coefficients; b <- co[, "Estimate"]; V <- fit$geese$vbeta   # robust (sandwich) covariance
  p0 <- plogis(b[1]); p1 <- plogis(b[1] + b[2]); g <- c(p1 * (1 - p1) - p0 * (1 - p0), p1 * (1 - p1))
  se_d <- sqrt(drop(t(g) %*% V %*% g)); se0 <- sqrt(V[1, 1]); se1 <- sqrt(V[1, 1] + V[2, 2] + 2 * V[1, 2])
  gee[[length(gee) + 1]] <- data.frame(finding = "stenosis", sequence = d$sequence[1], reader = rr, measure = ms, arm = arm,
    log_odds_ratio = co["x", "Estimate"], se = co["x", "Std.err"], p_value = co["x", "Pr(>|W|)"],
    estimate_reference = unname(p0), estimate_arm = unname(p1),
    ci_low = max(-1, unname(p1 - p0) - Z * se_d), ci_high = min(1, unname(p1 - p0) + Z * se_d),
    ci_low_arm = unname(plogis(b[1] + b[2] - Z * se1)), ci_high_arm = unname(plogis(b[1] + b[2] + Z * se1)),
    ci_low_reference = unname(plogis(b[1] - Z * se0)), ci_high_reference = unname(plogis(b[1] + Z * se0)),
    correlation = unname(sm$corr[1, "Estimate"]))
}
write(bind(gee), "accuracy_gee")

# ---- preference vs "no difference" (seed 003) ---------------------------------------------------------------------
p <- a[a$item == "pref_snr", ]; pf_ <- list()
for (pair in sort(unique(p$arm))) for (rr in c("all", sort(unique(p$reader)))) {
  v <- p$value[p$arm == pair & (rr == "all" | p$reader == rr)]
  w <- suppressWarnings(wilcox.test(v, mu = 3, exact = FALSE, correct = TRUE))
  pf_[[length(pf_) + 1]] <- data.frame(sequence = p$sequence[1], item = "pref_snr", pair = pair, reader = rr, n = length(v),
    mean = mean(v), sd = sd(v), statistic = unname(w$statistic), p_value = w$p.value)
}
write(bind(pf_), "preference")

# ---- Spearman between readers (seed 003 Table 3) ------------------------------------------------------------------
sp <- list()
for (it in c("confidence_dx", "pref_snr", "snr", "stenosis_conf")) for (s in sort(unique(a$sequence[a$item == it])))
  for (arm in sort(unique(a$arm[a$item == it]))) {
    d <- a[a$item == it & a$sequence == s & a$arm == arm, ]; rd <- sort(unique(d$reader))
    for (i in 1:(length(rd) - 1)) for (j in (i + 1):length(rd)) {
      m <- merge(d[d$reader == rd[i], ], d[d$reader == rd[j], ], by = c("case", "level"))
      ct <- suppressWarnings(cor.test(m$value.x, m$value.y, method = "spearman", exact = FALSE))
      sp[[length(sp) + 1]] <- data.frame(sequence = s, item = it, arm = arm, reader_a = rd[i], reader_b = rd[j],
        rho = unname(ct$estimate), p_value = ct$p.value)
    }
  }
write(bind(sp), "spearman")

# ---- Bland-Altman and correlation between arms (case means) ------------------------------------------------------
ba <- list(); cmq <- aggregate(value ~ sequence + item + arm + case + level,
                               data = a[a$item %in% c("roi_cord", "roi_background_sd", "snr_cord"), ], FUN = mean)
for (it in sort(unique(cmq$item))) for (s in sort(unique(cmq$sequence))) for (arm in sort(setdiff(unique(cmq$arm), REF))) {
  m <- merge(cmq[cmq$item == it & cmq$sequence == s & cmq$arm == arm, ], cmq[cmq$item == it & cmq$sequence == s & cmq$arm == REF, ],
             by = c("case", "level")); d <- m$value.x - m$value.y
  pc <- cor.test(m$value.x, m$value.y); sc <- suppressWarnings(cor.test(m$value.x, m$value.y, method = "spearman", exact = FALSE))
  ba[[length(ba) + 1]] <- data.frame(sequence = s, item = it, arm = arm, reader = "all", bias = mean(d), sd_difference = sd(d),
    loa_low = mean(d) - qnorm(0.975) * sd(d), loa_high = mean(d) + qnorm(0.975) * sd(d), pearson_r = unname(pc$estimate),
    pearson_p = pc$p.value, spearman_rho = unname(sc$estimate), spearman_p = sc$p.value)
}
write(bind(ba), "bland_altman")

# ---- quantitative biomarkers per arm against the reference (seed 000 Table 6 / Figure 6): case means ------------
icc_a1 <- function(x, y) {               # ICC(A,1) of two "raters" (arm, reference) over units, McGraw & Wong CI
  d <- data.frame(unit = factor(rep(seq_along(x), 2)), rater = factor(rep(1:2, each = length(x))), value = c(x, y))
  ms <- summary(aov(value ~ unit + rater, data = d))[[1]][["Mean Sq"]]; n <- length(x); k <- 2
  MSR <- ms[1]; MSC <- ms[2]; MSE <- ms[3]; ICC <- (MSR - MSE) / (MSR + (k - 1) * MSE + k * (MSC - MSE) / n)
  A <- k * ICC / (n * (1 - ICC)); B <- 1 + k * ICC * (n - 1) / (n * (1 - ICC))
  v <- (A * MSC + B * MSE)^2 / ((A * MSC)^2 / (k - 1) + (B * MSE)^2 / ((n - 1) * (k - 1)))
  FL <- qf(0.975, n - 1, v); FU <- qf(0.975, v, n - 1)
  c(icc = ICC, icc_ci_low = max(-1, n * (MSR - FL * MSE) / (FL * (k * MSC + (k * n - k - n) * MSE) + n * MSR)),
    icc_ci_high = min(1, n * (FU * MSR - MSE) / (k * MSC + (k * n - k - n) * MSE + n * FU * MSR)))
}
mq <- list()
for (it in sort(unique(cmq$item))) for (s in sort(unique(cmq$sequence))) {
  y0 <- cmq$value[cmq$item == it & cmq$sequence == s & cmq$arm == REF]
  mq[[length(mq) + 1]] <- data.frame(sequence = s, item = it, arm = REF, n = length(y0), mean = mean(y0), sd = sd(y0),
    percent_difference = NA, r_squared = NA, slope = NA, intercept = NA, bias = NA, loa_low = NA, loa_high = NA,
    icc = NA, icc_ci_low = NA, icc_ci_high = NA)
  for (arm in sort(setdiff(unique(cmq$arm), REF))) {
    m <- merge(cmq[cmq$item == it & cmq$sequence == s & cmq$arm == arm, ], cmq[cmq$item == it & cmq$sequence == s & cmq$arm == REF, ],
               by = c("case", "level")); x <- m$value.x; y <- m$value.y; d <- x - y
    fit <- lm(x ~ y); cat("\n## measurements", it, s, arm, "\n"); print(summary(fit))
    ic <- icc_a1(x, y)
    mq[[length(mq) + 1]] <- data.frame(sequence = s, item = it, arm = arm, n = length(x), mean = mean(x), sd = sd(x),
      percent_difference = 100 * (mean(x) - mean(y)) / mean(y), r_squared = summary(fit)$r.squared,
      slope = unname(coef(fit)[2]), intercept = unname(coef(fit)[1]), bias = mean(d),
      loa_low = mean(d) - qnorm(0.975) * sd(d), loa_high = mean(d) + qnorm(0.975) * sd(d),
      icc = ic[["icc"]], icc_ci_low = ic[["icc_ci_low"]], icc_ci_high = ic[["icc_ci_high"]])
  }
}
write(bind(mq), "measurements")

# ---- MRMC: Obuchowski-Rockette, Hillis df, case jackknife ---------------------------------------------------------
fom <- function(d, type) {                 # d: one arm x reader, columns case, level, value, present
  if (type == "mean") return(mean(d$value))
  if (type == "sensitivity") return(mean(d$value[d$present == 1] == 1))
  x1 <- d$value[d$present == 1]; x0 <- d$value[d$present == 0]
  mean(outer(x1, x0, ">") + 0.5 * outer(x1, x0, "=="))
}
or_hillis <- function(d, type, arms) {     # arms[1] = reference
  rd <- sort(unique(d$reader)); cs <- sort(unique(d$case)); t <- length(arms); r <- length(rd); cn <- length(cs)
  th <- matrix(NA, t, r); jk <- array(NA, c(t, r, cn))
  for (i in 1:t) for (j in 1:r) { dd <- d[d$arm == arms[i] & d$reader == rd[j], ]; th[i, j] <- fom(dd, type)
    for (k in 1:cn) jk[i, j, k] <- fom(dd[dd$case != cs[k], ], type) }
  flat <- matrix(jk, t * r, cn)            # row index = i + (j-1)*t
  cv <- (cn - 1) / cn * (sweep(flat, 1, rowMeans(flat)) %*% t(sweep(flat, 1, rowMeans(flat))))
  ai <- rep(1:t, r); ri <- rep(1:r, each = t)
  sa <- outer(ai, ai, "=="); sr <- outer(ri, ri, "==")
  Var <- mean(cv[sa & sr]); Cov1 <- mean(cv[!sa & sr]); Cov2 <- mean(cv[sa & !sr]); Cov3 <- mean(cv[!sa & !sr])
  MST <- r * sum((rowMeans(th) - mean(th))^2) / (t - 1)
  MSTR <- sum((th - outer(rowMeans(th), colMeans(th), "+") + mean(th))^2) / ((t - 1) * (r - 1))
  Den <- MSTR + r * max(Cov2 - Cov3, 0); Fs <- MST / Den; df <- Den^2 / (MSTR^2 / ((t - 1) * (r - 1)))
  diff <- mean(th[2, ]) - mean(th[1, ]); se <- sqrt(2 * Den / r)
  data.frame(fom_arm = mean(th[2, ]), fom_reference = mean(th[1, ]), difference = diff, var = Var, cov1 = Cov1,
             cov2 = Cov2, cov3 = Cov3, ms_t = MST, ms_tr = MSTR, f = Fs, df = df, p_value = pf(Fs, t - 1, df, lower.tail = FALSE),
             se = se, ci_low = diff - qt(0.975, df) * se, ci_high = diff + qt(0.975, df) * se)
}
mr <- list()
specs <- list(list("stenosis_conf:auc", "stenosis_conf", "auc", -0.05), list("snr:mean", "snr", "mean", -0.5),
              list("stenosis:sensitivity", "stenosis", "sensitivity", -0.1))
for (sp_ in specs) {
  d <- a[a$item == sp_[[2]], ]
  if (sp_[[3]] != "mean") d <- merge(d, truth[truth$finding == "stenosis", c("case", "level", "present")], by = c("case", "level"))
  for (s in sort(unique(d$sequence))) for (arm in sort(setdiff(unique(d$arm), REF))) {
    dd <- d[d$sequence == s & d$arm %in% c(REF, arm), ]
    res <- or_hillis(dd, sp_[[3]], c(REF, arm))
    tt <- (res$difference - sp_[[4]]) / res$se
    mr[[length(mr) + 1]] <- cbind(data.frame(analysis = sp_[[1]], sequence = s, arm = arm), res,
                                  p_noninferiority = pt(tt, res$df, lower.tail = FALSE))
  }
}
mr <- bind(mr); print(mr); write(mr, "mrmc")
cat("\ndone\n")
