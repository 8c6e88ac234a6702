// Distance metrics for search. Vectors are float32 of dimension d.
//   cosine       d = 1 - <a,b>/(|a||b|)                score = 1 - d (cosine similarity, [-1,1])
//   euclidean    d = sqrt(sum (a_i - b_i)^2)           score = 1 / (1 + d)          ((0,1])
//   manhattan    d = sum |a_i - b_i|                   score = 1 / (1 + d)          ((0,1])
//   correlation  d = 1 - pearson(a, b)                 score = 1 - d (Pearson r, [-1,1])
// A zero-norm (or constant, for correlation) vector has similarity 0 to everything (d = 1).
// All functions are pure and thread-safe.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace earshot {

enum class Metric { kCosine, kEuclidean, kManhattan, kCorrelation };

// Accepts "cosine", "euclidean", "manhattan", "correlation" and the seed-style aliases
// "cosine_similarity", "euclidean_distance", "manhattan_distance", "correlation_distance"
// (case-insensitive). kInvalidArgument listing the valid names otherwise.
Result<Metric> parse_metric(std::string_view name);
std::string_view metric_name(Metric metric);
std::string metric_names();  // "cosine, euclidean, manhattan, correlation"

// Reference (naive, double-precision) distance, used by tests and as documentation.
double naive_distance(Metric metric, std::span<const float> a, std::span<const float> b);
// Score (higher is more similar) from a distance, as in the table above.
float score_from_distance(Metric metric, float distance);

}  // namespace earshot
