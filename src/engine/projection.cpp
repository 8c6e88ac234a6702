#include "engine/projection.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace earshot {
namespace {

// y = Cᵀ C x / n for the centred data C (n × d), without forming the d × d covariance.
void covariance_times(const std::vector<double>& centred,
                      std::size_t n,
                      std::size_t d,
                      const std::vector<double>& x,
                      std::vector<double>& y) {
    std::fill(y.begin(), y.end(), 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        const double* row = centred.data() + i * d;
        double dot = 0.0;
        for (std::size_t j = 0; j < d; ++j) dot += row[j] * x[j];
        for (std::size_t j = 0; j < d; ++j) y[j] += dot * row[j];
    }
    for (double& v : y) v /= static_cast<double>(n);
}

double norm(const std::vector<double>& v) {
    double s = 0.0;
    for (double x : v) s += x * x;
    return std::sqrt(s);
}

// Leading eigenvector of the covariance restricted to the complement of `previous` (unit
// vectors). Returns the eigenvalue.
double power_iteration(const std::vector<double>& centred,
                       std::size_t n,
                       std::size_t d,
                       const std::vector<std::vector<double>>& previous,
                       std::vector<double>& v) {
    std::mt19937 rng(1234);
    std::normal_distribution<double> gauss(0.0, 1.0);
    v.assign(d, 0.0);
    for (double& x : v) x = gauss(rng);
    auto deflate = [&](std::vector<double>& w) {
        for (const auto& p : previous) {
            double dot = 0.0;
            for (std::size_t j = 0; j < d; ++j) dot += w[j] * p[j];
            for (std::size_t j = 0; j < d; ++j) w[j] -= dot * p[j];
        }
    };
    deflate(v);
    double nv = norm(v);
    if (nv == 0.0)
        return 0.0;
    for (double& x : v) x /= nv;
    std::vector<double> w(d);
    double lambda = 0.0;
    constexpr int kMaxIterations = 300;
    constexpr double kTolerance = 1e-9;
    for (int it = 0; it < kMaxIterations; ++it) {
        covariance_times(centred, n, d, v, w);
        deflate(w);
        double nw = norm(w);
        if (nw == 0.0)
            return 0.0;
        double change = 0.0;
        for (std::size_t j = 0; j < d; ++j) {
            double nx = w[j] / nw;
            change += (nx - v[j]) * (nx - v[j]);
            v[j] = nx;
        }
        lambda = nw;
        if (change < kTolerance)
            break;
    }
    // Deterministic sign: the largest-magnitude loading is positive.
    std::size_t arg = 0;
    for (std::size_t j = 1; j < d; ++j) {
        if (std::abs(v[j]) > std::abs(v[arg]))
            arg = j;
    }
    if (v[arg] < 0.0) {
        for (double& x : v) x = -x;
    }
    return lambda;
}

}  // namespace

Result<Projection2D> project_pca_2d(const Matrix& vectors) {
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

    std::vector<double> centred(n * d);
    std::vector<double> mean(d, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        const float* row = vectors.row(i);
        double s = 0.0;
        for (std::size_t j = 0; j < d; ++j) s += static_cast<double>(row[j]) * row[j];
        double inv = s > 0.0 ? 1.0 / std::sqrt(s) : 0.0;
        for (std::size_t j = 0; j < d; ++j) {
            centred[i * d + j] = row[j] * inv;
            mean[j] += centred[i * d + j];
        }
    }
    for (double& m : mean) m /= static_cast<double>(n);
    double total_variance = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < d; ++j) {
            double& c = centred[i * d + j];
            c -= mean[j];
            total_variance += c * c;
        }
    }
    total_variance /= static_cast<double>(n);

    std::vector<std::vector<double>> components;
    for (int c = 0; c < 2; ++c) {
        std::vector<double> v;
        double lambda = power_iteration(centred, n, d, components, v);
        out.explained_variance_ratio[static_cast<std::size_t>(c)] =
            total_variance > 0.0 ? lambda / total_variance : 0.0;
        components.push_back(std::move(v));
    }
    for (std::size_t c = 0; c < 2; ++c) {
        double max_abs = 0.0;
        std::vector<double> coord(n, 0.0);
        for (std::size_t i = 0; i < n; ++i) {
            const double* row = centred.data() + i * d;
            double dot = 0.0;
            for (std::size_t j = 0; j < d; ++j) dot += row[j] * components[c][j];
            coord[i] = dot;
            max_abs = std::max(max_abs, std::abs(dot));
        }
        for (std::size_t i = 0; i < n; ++i) {
            out.xy[i * 2 + c] = max_abs > 0.0 ? static_cast<float>(coord[i] / max_abs) : 0.0f;
        }
    }
    return out;
}

}  // namespace earshot
