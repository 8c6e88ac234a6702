#include "index/metric.h"

#include <array>
#include <cctype>
#include <cmath>
#include <string>

#include "core/check.h"

namespace earshot {
namespace {

struct MetricName {
    std::string_view name;
    std::string_view alias;
    Metric metric;
};

constexpr std::array<MetricName, 4> kMetricNames = {{
    {"cosine", "cosine_similarity", Metric::kCosine},
    {"euclidean", "euclidean_distance", Metric::kEuclidean},
    {"manhattan", "manhattan_distance", Metric::kManhattan},
    {"correlation", "correlation_distance", Metric::kCorrelation},
}};

bool equals_ignore_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

// 1 - <a,b> / (|a||b|) in double; 1 when either vector has zero norm.
double cosine_distance(std::span<const float> a,
                       std::span<const float> b,
                       double mean_a,
                       double mean_b) {
    double dot = 0.0;
    double norm_a = 0.0;
    double norm_b = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double x = static_cast<double>(a[i]) - mean_a;
        const double y = static_cast<double>(b[i]) - mean_b;
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    if (norm_a <= 0.0 || norm_b <= 0.0)
        return 1.0;
    return 1.0 - dot / (std::sqrt(norm_a) * std::sqrt(norm_b));
}

bool is_constant(std::span<const float> a) {
    for (float v : a) {
        if (v != a[0])
            return false;
    }
    return true;
}

double mean(std::span<const float> a) {
    if (a.empty())
        return 0.0;
    double s = 0.0;
    for (float v : a) s += v;
    return s / static_cast<double>(a.size());
}

}  // namespace

Result<Metric> parse_metric(std::string_view name) {
    for (const MetricName& m : kMetricNames) {
        if (equals_ignore_case(name, m.name) || equals_ignore_case(name, m.alias)) {
            return m.metric;
        }
    }
    return make_error(ErrorCode::kInvalidArgument,
                      "unknown metric '" + std::string(name) + "' (known: " + metric_names() + ")");
}

std::string_view metric_name(Metric metric) {
    for (const MetricName& m : kMetricNames) {
        if (m.metric == metric)
            return m.name;
    }
    return "unknown";
}

std::string metric_names() {
    std::string out;
    for (const MetricName& m : kMetricNames) {
        if (!out.empty())
            out += ", ";
        out += m.name;
    }
    return out;
}

double naive_distance(Metric metric, std::span<const float> a, std::span<const float> b) {
    EARSHOT_CHECK(a.size() == b.size());
    switch (metric) {
        case Metric::kCosine:
            return cosine_distance(a, b, 0.0, 0.0);
        case Metric::kCorrelation:
            // A constant vector has no defined correlation: similarity 0. Testing equality of
            // the floats (not a tiny centred norm) keeps this exact.
            if (a.empty() || is_constant(a) || is_constant(b))
                return 1.0;
            return cosine_distance(a, b, mean(a), mean(b));
        case Metric::kEuclidean: {
            double s = 0.0;
            for (std::size_t i = 0; i < a.size(); ++i) {
                const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
                s += d * d;
            }
            return std::sqrt(s);
        }
        case Metric::kManhattan: {
            double s = 0.0;
            for (std::size_t i = 0; i < a.size(); ++i) {
                s += std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
            }
            return s;
        }
    }
    return 0.0;
}

float score_from_distance(Metric metric, float distance) {
    switch (metric) {
        case Metric::kCosine:
        case Metric::kCorrelation:
            return 1.0f - distance;
        case Metric::kEuclidean:
        case Metric::kManhattan:
            return 1.0f / (1.0f + distance);
    }
    return 0.0f;
}

}  // namespace earshot
