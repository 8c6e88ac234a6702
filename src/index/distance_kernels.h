// Float32 distance kernels used by FlatIndex (internal to the index module). Each takes two
// arrays of d floats (no alignment required) and accumulates in float with several independent
// SIMD accumulators: AVX-512 when compiled with it (-march=native), else AVX2+FMA, else scalar.
// The result for a given (a, b, d) is deterministic: it does not depend on threads or on the
// row's position. Thread-safe (pure functions).
#pragma once

#include <cstddef>
#include <cstdint>

#include "index/metric.h"

namespace earshot::detail {

// sum a_i * b_i
float dot_f32(const float* a, const float* b, std::size_t d);
// sum (a_i - b_i)^2
float l2_squared_f32(const float* a, const float* b, std::size_t d);
// sum |a_i - b_i|
float l1_f32(const float* a, const float* b, std::size_t d);

// IEEE half precision (binary16) storage, round to nearest even; F16C/AVX-512 when compiled
// with them, else bit manipulation (same results). Values beyond the half range become ±inf.
void f32_to_f16(const float* in, std::uint16_t* out, std::size_t n);
void f16_to_f32(const std::uint16_t* in, float* out, std::size_t n);

// Compact-storage kernels (the `SQfp16` / `SQ8` index kinds): the query q is float32 (d values),
// the row is binary16 (x) or 8-bit codes (c, 0..255). Same accumulation scheme as above.
// sum q_i * x_i, sum (q_i - x_i)^2, sum |q_i - x_i| with x in half precision.
float dot_f16(const float* q, const std::uint16_t* x, std::size_t d);
float l2_squared_f16(const float* q, const std::uint16_t* x, std::size_t d);
float l1_f16(const float* q, const std::uint16_t* x, std::size_t d);
// The same with both sides in half precision (graph construction of `HNSW<M>,SQfp16`).
float dot_f16_f16(const std::uint16_t* a, const std::uint16_t* b, std::size_t d);
float l2_squared_f16_f16(const std::uint16_t* a, const std::uint16_t* b, std::size_t d);
// sum q_i * c_i (a dot product with the raw codes).
float dot_u8(const float* q, const std::uint8_t* c, std::size_t d);
// sum |q_i - (lo + step * c_i)| (the decoded row).
float l1_u8(const float* q, const std::uint8_t* c, float lo, float step, std::size_t d);

// 8-bit codes with a per-row range (`SQ8`, and the steering copy of a filtered HNSW walk):
// x_i ~ lo + step * c_i with lo = min_i x_i, step = (max_i x_i - lo) / 255, c_i = round((x_i -
// lo) / step). Writes d codes to c and returns the row's range and |decoded row|^2 (for L2:
// |q - x|^2 ~ |q|^2 - 2 (lo sum q + step dot_u8(q, c)) + sqnorm).
struct Sq8Row {
    float lo;
    float step;
    float sqnorm;
};
Sq8Row encode_sq8(const float* x, std::size_t d, std::uint8_t* c);
// sum q_i * x_i with x the decoded row: lo * sum q + step * dot_u8(q, c) (q_sum = sum q_i).
inline float sq8_dot(
    const float* q, float q_sum, const std::uint8_t* c, const Sq8Row& row, std::size_t d) {
    return row.lo * q_sum + row.step * dot_u8(q, c, d);
}
// What distances to 8-bit rows need of a query besides its values: sum q_i and |q|^2.
struct Sq8Query {
    float sum = 0.0f;
    float sqnorm = 0.0f;
};
inline Sq8Query sq8_query(const float* q, std::size_t d) {
    Sq8Query s;
    for (std::size_t i = 0; i < d; ++i) {
        s.sum += q[i];
        s.sqnorm += q[i] * q[i];
    }
    return s;
}
// The distance an index ranks by (1 - ip for unit rows, squared L2, L1) between q (in stored
// form; qs = sq8_query(q, d)) and an 8-bit row.
inline float sq8_distance(Metric metric,
                          const float* q,
                          const Sq8Query& qs,
                          const std::uint8_t* c,
                          const Sq8Row& row,
                          std::size_t d) {
    switch (metric) {
        case Metric::kCosine:
        case Metric::kCorrelation:
            return 1.0f - sq8_dot(q, qs.sum, c, row, d);
        case Metric::kEuclidean:
            return qs.sqnorm - 2.0f * sq8_dot(q, qs.sum, c, row, d) + row.sqnorm;
        case Metric::kManhattan:
            return l1_u8(q, c, row.lo, row.step, d);
    }
    return 0.0f;
}

// "avx512", "avx2" or "scalar": which kernels this build uses.
const char* simd_level();

}  // namespace earshot::detail
