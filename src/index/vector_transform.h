// How each metric stores vectors (internal to the index module): cosine and correlation keep
// unit-norm (centred, for correlation) rows so that their distance is 1 - <q', x'>; euclidean and
// manhattan keep the row as given. Pure functions, thread-safe.
#pragma once

#include <cstddef>

#include "index/metric.h"

namespace earshot::detail {

// Writes the stored form of `in` (d floats) to `out` and returns 1 for a regular row. A zero row
// (cosine) or constant row (correlation) is stored as zeros and gives 0; euclidean and manhattan
// copy the row and give 0.
float transform_for_metric(Metric metric, const float* in, std::size_t d, float* out);

// True when none of the n values is NaN or infinite.
bool all_finite(const float* v, std::size_t n);

// cosine / correlation: rows are unit vectors compared by inner product.
inline bool uses_unit_rows(Metric metric) {
    return metric == Metric::kCosine || metric == Metric::kCorrelation;
}

}  // namespace earshot::detail
