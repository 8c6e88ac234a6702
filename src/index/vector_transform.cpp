#include "index/vector_transform.h"

#include <algorithm>
#include <cmath>

namespace earshot::detail {

bool all_finite(const float* v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        if (!std::isfinite(v[i]))
            return false;
    }
    return true;
}

float transform_for_metric(Metric metric, const float* in, std::size_t d, float* out) {
    switch (metric) {
        case Metric::kCosine:
        case Metric::kCorrelation: {
            double mean = 0.0;
            bool constant = true;
            if (metric == Metric::kCorrelation) {
                for (std::size_t j = 0; j < d; ++j) {
                    mean += in[j];
                    constant = constant && in[j] == in[0];
                }
                mean /= static_cast<double>(d);
            }
            double norm2 = 0.0;
            for (std::size_t j = 0; j < d; ++j) {
                const double x = static_cast<double>(in[j]) - mean;
                norm2 += x * x;
            }
            const bool degenerate = metric == Metric::kCorrelation ? constant : norm2 <= 0.0;
            if (degenerate) {
                std::fill(out, out + d, 0.0f);
                return 0.0f;
            }
            const double inv = 1.0 / std::sqrt(norm2);
            for (std::size_t j = 0; j < d; ++j) {
                out[j] = static_cast<float>((static_cast<double>(in[j]) - mean) * inv);
            }
            return 1.0f;
        }
        case Metric::kEuclidean:
        case Metric::kManhattan:
            std::copy(in, in + d, out);
            return 0.0f;
    }
    return 0.0f;
}

}  // namespace earshot::detail
