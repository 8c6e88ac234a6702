#include "engine/projection.h"

#include <algorithm>
#include <cmath>
#include <numeric>

// The index module's SIMD dot product (engine links index): the covariance and the projection
// are n·d² and n·d dot products, float with several accumulators, as the flat index computes
// its scores.
#include "index/distance_kernels.h"

namespace earshot {
namespace {

// splitmix64: a small portable generator, so the sample and the start vectors are the same
// whatever the standard library.
struct SplitMix64 {
    std::uint64_t state;
    std::uint64_t next() {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
};

// Symmetric p × p matrix a (row-major) → eigenvalues (descending) and eigenvectors (columns of
// vecs, row-major p × p), by cyclic Jacobi rotations.
void jacobi_eigen(std::vector<double> a,
                  std::size_t p,
                  std::vector<double>& values,
                  std::vector<double>& vecs) {
    vecs.assign(p * p, 0.0);
    for (std::size_t i = 0; i < p; ++i) vecs[i * p + i] = 1.0;
    for (int sweep = 0; sweep < 100; ++sweep) {
        double off = 0.0;
        double diag = 0.0;
        for (std::size_t i = 0; i < p; ++i) {
            diag += a[i * p + i] * a[i * p + i];
            for (std::size_t j = i + 1; j < p; ++j) off += a[i * p + j] * a[i * p + j];
        }
        if (off <= 1e-30 * diag || off == 0.0)
            break;
        for (std::size_t i = 0; i < p; ++i) {
            for (std::size_t j = i + 1; j < p; ++j) {
                const double aij = a[i * p + j];
                if (aij == 0.0)
                    continue;
                const double theta = (a[j * p + j] - a[i * p + i]) / (2.0 * aij);
                const double t = (theta >= 0.0 ? 1.0 : -1.0) /
                                 (std::abs(theta) + std::sqrt(theta * theta + 1.0));
                const double c = 1.0 / std::sqrt(t * t + 1.0);
                const double s = t * c;
                for (std::size_t k = 0; k < p; ++k) {  // columns i, j
                    const double aki = a[k * p + i];
                    const double akj = a[k * p + j];
                    a[k * p + i] = c * aki - s * akj;
                    a[k * p + j] = s * aki + c * akj;
                }
                for (std::size_t k = 0; k < p; ++k) {  // rows i, j
                    const double aik = a[i * p + k];
                    const double ajk = a[j * p + k];
                    a[i * p + k] = c * aik - s * ajk;
                    a[j * p + k] = s * aik + c * ajk;
                }
                for (std::size_t k = 0; k < p; ++k) {
                    const double vki = vecs[k * p + i];
                    const double vkj = vecs[k * p + j];
                    vecs[k * p + i] = c * vki - s * vkj;
                    vecs[k * p + j] = s * vki + c * vkj;
                }
            }
        }
    }
    std::vector<std::size_t> order(p);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t x, std::size_t y) { return a[x * p + x] > a[y * p + y]; });
    values.resize(p);
    std::vector<double> sorted(p * p);
    for (std::size_t c = 0; c < p; ++c) {
        values[c] = a[order[c] * p + order[c]];
        for (std::size_t k = 0; k < p; ++k) sorted[k * p + c] = vecs[k * p + order[c]];
    }
    vecs = std::move(sorted);
}

// Orthonormalises the p columns of v (d × p, column c at v[c*d ...]) by modified Gram-Schmidt;
// a column that (nearly) vanishes is replaced by the first basis vector that is not in the span
// of the previous ones.
void orthonormalise(std::vector<double>& v, std::size_t d, std::size_t p) {
    std::size_t next_basis = 0;
    for (std::size_t c = 0; c < p; ++c) {
        double* col = v.data() + c * d;
        double before = 0.0;
        for (std::size_t j = 0; j < d; ++j) before += col[j] * col[j];
        for (int attempt = 0;; ++attempt) {
            for (std::size_t prev = 0; prev < c; ++prev) {
                const double* q = v.data() + prev * d;
                double dot = 0.0;
                for (std::size_t j = 0; j < d; ++j) dot += col[j] * q[j];
                for (std::size_t j = 0; j < d; ++j) col[j] -= dot * q[j];
            }
            double nn = 0.0;
            for (std::size_t j = 0; j < d; ++j) nn += col[j] * col[j];
            if (nn > 1e-20 * before && nn > 0.0) {
                const double inv = 1.0 / std::sqrt(nn);
                for (std::size_t j = 0; j < d; ++j) col[j] *= inv;
                break;
            }
            if (next_basis >= d || attempt > static_cast<int>(d)) {
                std::fill(col, col + d, 0.0);  // p > rank: cannot happen for p <= d
                break;
            }
            std::fill(col, col + d, 0.0);
            col[next_basis++] = 1.0;
            before = 1.0;
        }
    }
}

// The covariance (d × d, row-major, double) of the fitted rows after L2 normalisation and
// centring on `mean`: accumulated over blocks of rows transposed to columns, each block's
// entries by the float dot kernel, summed in double.
std::vector<double> covariance(const Matrix& vectors,
                               const std::vector<std::size_t>& rows,
                               const std::vector<float>& inv_norms,
                               const std::vector<double>& mean) {
    const std::size_t d = vectors.n_cols;
    const std::size_t m = rows.size();
    constexpr std::size_t kBlock = 512;
    std::vector<double> cov(d * d, 0.0);
    std::vector<float> block(d * kBlock);  // column j of the block at block[j*kBlock ...]
    for (std::size_t start = 0; start < m; start += kBlock) {
        const std::size_t b = std::min(kBlock, m - start);
        for (std::size_t r = 0; r < b; ++r) {
            const float* row = vectors.row(rows[start + r]);
            const float inv = inv_norms[start + r];
            for (std::size_t j = 0; j < d; ++j)
                block[j * kBlock + r] = row[j] * inv - static_cast<float>(mean[j]);
        }
        for (std::size_t a = 0; a < d; ++a) {
            const float* ca = block.data() + a * kBlock;
            for (std::size_t c = a; c < d; ++c)
                cov[a * d + c] += detail::dot_f32(ca, block.data() + c * kBlock, b);
        }
    }
    for (std::size_t a = 0; a < d; ++a) {
        for (std::size_t c = a; c < d; ++c) {
            cov[a * d + c] /= static_cast<double>(m);
            cov[c * d + a] = cov[a * d + c];
        }
    }
    return cov;
}

// The two leading eigenpairs of the symmetric covariance (d × d): block power iteration on p
// vectors with Rayleigh-Ritz, until both pairs' residuals |C u - λ u| are below 1e-9 λ₁ (or 1000
// iterations). The extra vectors make it converge at the rate λ_{p+1}/λ₂, not λ₃/λ₂, so close
// leading eigenvalues do not slow it down.
void top_two_eigen(const std::vector<double>& cov,
                   std::size_t d,
                   std::array<std::vector<double>, 2>& vectors,
                   std::array<double, 2>& values) {
    const std::size_t p = std::min<std::size_t>(d, 10);
    std::vector<double> v(d * p);
    SplitMix64 rng{1234};
    for (double& x : v) x = rng.uniform() - 0.5;
    orthonormalise(v, d, p);
    std::vector<double> w(d * p);
    std::vector<double> h(p * p);
    std::vector<double> theta;
    std::vector<double> y;
    std::vector<double> ritz(d * p);
    std::vector<double> c_ritz(d * p);
    for (int it = 0; it < 1000; ++it) {
        for (std::size_t c = 0; c < p; ++c) {  // w = C v
            const double* vc = v.data() + c * d;
            double* wc = w.data() + c * d;
            for (std::size_t i = 0; i < d; ++i) {
                const double* ci = cov.data() + i * d;
                double s = 0.0;
                for (std::size_t j = 0; j < d; ++j) s += ci[j] * vc[j];
                wc[i] = s;
            }
        }
        for (std::size_t a = 0; a < p; ++a) {  // h = vᵀ C v
            for (std::size_t b = a; b < p; ++b) {
                double s = 0.0;
                for (std::size_t j = 0; j < d; ++j) s += v[a * d + j] * w[b * d + j];
                h[a * p + b] = s;
                h[b * p + a] = s;
            }
        }
        jacobi_eigen(h, p, theta, y);
        // Ritz vectors v y and C v y = w y, leading first.
        std::fill(ritz.begin(), ritz.end(), 0.0);
        std::fill(c_ritz.begin(), c_ritz.end(), 0.0);
        for (std::size_t c = 0; c < p; ++c) {
            for (std::size_t k = 0; k < p; ++k) {
                const double yk = y[k * p + c];
                for (std::size_t j = 0; j < d; ++j) {
                    ritz[c * d + j] += v[k * d + j] * yk;
                    c_ritz[c * d + j] += w[k * d + j] * yk;
                }
            }
        }
        double worst = 0.0;
        for (std::size_t c = 0; c < 2 && c < p; ++c) {
            double r = 0.0;
            for (std::size_t j = 0; j < d; ++j) {
                const double e = c_ritz[c * d + j] - theta[c] * ritz[c * d + j];
                r += e * e;
            }
            worst = std::max(worst, std::sqrt(r));
        }
        for (std::size_t c = 0; c < 2; ++c) {
            if (c < p) {
                vectors[c].assign(ritz.begin() + static_cast<std::ptrdiff_t>(c * d),
                                  ritz.begin() + static_cast<std::ptrdiff_t>((c + 1) * d));
                values[c] = std::max(0.0, theta[c]);
            } else {
                vectors[c].assign(d, 0.0);
                values[c] = 0.0;
            }
        }
        if (worst <= 1e-9 * std::max(theta[0], 1e-300))
            break;
        v = c_ritz;  // the next power step, leading directions first
        orthonormalise(v, d, p);
    }
    for (auto& vec : vectors) {  // deterministic sign: the largest-magnitude loading is positive
        std::size_t arg = 0;
        for (std::size_t j = 1; j < d; ++j) {
            if (std::abs(vec[j]) > std::abs(vec[arg]))
                arg = j;
        }
        if (vec[arg] < 0.0) {
            for (double& x : vec) x = -x;
        }
    }
}

}  // namespace

std::vector<std::size_t> pca_fit_rows(std::size_t n, std::size_t max_rows, std::uint64_t seed) {
    std::vector<std::size_t> rows(n);
    std::iota(rows.begin(), rows.end(), std::size_t{0});
    if (max_rows == 0 || n <= max_rows)
        return rows;
    SplitMix64 rng{seed};
    for (std::size_t i = 0; i < max_rows; ++i) {  // partial Fisher-Yates
        const std::size_t j = i + static_cast<std::size_t>(rng.next() % (n - i));
        std::swap(rows[i], rows[j]);
    }
    rows.resize(max_rows);
    std::sort(rows.begin(), rows.end());
    return rows;
}

Result<Projection2D> project_pca_2d(const Matrix& vectors, const PcaOptions& options) {
    Projection2D out;
    const std::size_t n = vectors.n_rows;
    const std::size_t d = vectors.n_cols;
    if (n == 0)
        return out;
    if (d == 0)
        return make_error(ErrorCode::kInvalidArgument, "project_pca_2d: vectors have 0 columns");
    out.xy.assign(n * 2, 0.0f);
    if (n == 1)
        return out;

    // Fit: the sample's normalised rows, their mean and covariance.
    const std::vector<std::size_t> rows = pca_fit_rows(n, options.max_fit_rows, options.seed);
    out.fit_rows = rows.size();
    auto inv_norm = [&](std::size_t i) {
        const float* row = vectors.row(i);
        const double s = detail::dot_f32(row, row, d);
        return s > 0.0 ? static_cast<float>(1.0 / std::sqrt(s)) : 0.0f;
    };
    std::vector<float> inv_norms(rows.size());
    std::vector<double> mean(d, 0.0);
    for (std::size_t r = 0; r < rows.size(); ++r) {
        inv_norms[r] = inv_norm(rows[r]);
        const float* row = vectors.row(rows[r]);
        for (std::size_t j = 0; j < d; ++j)
            mean[j] += static_cast<double>(row[j]) * static_cast<double>(inv_norms[r]);
    }
    for (double& x : mean) x /= static_cast<double>(rows.size());
    const std::vector<double> cov = covariance(vectors, rows, inv_norms, mean);
    double total_variance = 0.0;
    for (std::size_t j = 0; j < d; ++j) total_variance += cov[j * d + j];
    // Rows have unit length, so variance is in absolute units: below kNoSpread it is float
    // rounding (every row the same direction), and such an axis stays at 0.
    constexpr double kNoSpread = 1e-9;
    if (!(total_variance > kNoSpread))
        return out;

    std::array<std::vector<double>, 2> components;
    std::array<double, 2> lambda{};
    top_two_eigen(cov, d, components, lambda);

    // Project every row: x_c = <row/|row|, u_c> - <mean, u_c>, each axis scaled to [-1, 1].
    for (std::size_t c = 0; c < 2; ++c) {
        out.explained_variance_ratio[c] = lambda[c] / total_variance;
        if (lambda[c] <= kNoSpread || lambda[c] <= 1e-12 * total_variance)
            continue;  // no spread along this axis: leave it at 0
        std::vector<float> u(d);
        double offset = 0.0;
        for (std::size_t j = 0; j < d; ++j) {
            u[j] = static_cast<float>(components[c][j]);
            offset += mean[j] * components[c][j];
        }
        double max_abs = 0.0;
        std::vector<double> coord(n);
        for (std::size_t i = 0; i < n; ++i) {
            coord[i] = static_cast<double>(detail::dot_f32(vectors.row(i), u.data(), d)) *
                           static_cast<double>(inv_norm(i)) -
                       offset;
            max_abs = std::max(max_abs, std::abs(coord[i]));
        }
        for (std::size_t i = 0; i < n; ++i) {
            out.xy[i * 2 + c] = max_abs > 0.0 ? static_cast<float>(coord[i] / max_abs) : 0.0f;
        }
    }
    return out;
}

}  // namespace earshot
