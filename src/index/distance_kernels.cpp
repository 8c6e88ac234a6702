#include "index/distance_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__)) || defined(__F16C__)
// GCC 12's _mm512_reduce_add_ps uses _mm256_undefined_pd(), which trips -Wuninitialized
// inside the header (a false positive); silence it for the intrinsics header only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace earshot::detail {
namespace {

// Scalar versions: also used for the tails of the AVX2 kernels.
struct DotOp {
    static float scalar(float x, float y) { return x * y; }
};
struct L2Op {
    static float scalar(float x, float y) { return (x - y) * (x - y); }
};
struct L1Op {
    static float scalar(float x, float y) { return std::fabs(x - y); }
};

template <typename Op>
float scalar_kernel(const float* a, const float* b, std::size_t d) {
    float acc[8] = {};
    std::size_t i = 0;
    for (; i + 8 <= d; i += 8) {
        for (std::size_t j = 0; j < 8; ++j) acc[j] += Op::scalar(a[i + j], b[i + j]);
    }
    float tail = 0.0f;
    for (; i < d; ++i) tail += Op::scalar(a[i], b[i]);
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

#if defined(__AVX512F__)

struct Dot512 {
    static __m512 step(__m512 x, __m512 y, __m512 acc) { return _mm512_fmadd_ps(x, y, acc); }
};
struct L2512 {
    static __m512 step(__m512 x, __m512 y, __m512 acc) {
        const __m512 diff = _mm512_sub_ps(x, y);
        return _mm512_fmadd_ps(diff, diff, acc);
    }
};
struct L1512 {
    static __m512 step(__m512 x, __m512 y, __m512 acc) {
        return _mm512_add_ps(acc, _mm512_abs_ps(_mm512_sub_ps(x, y)));
    }
};

template <typename Op>
float avx512_kernel(const float* a, const float* b, std::size_t d) {
    __m512 acc0 = _mm512_setzero_ps();
    __m512 acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps();
    __m512 acc3 = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 64 <= d; i += 64) {
        acc0 = Op::step(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = Op::step(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
        acc2 = Op::step(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), acc2);
        acc3 = Op::step(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), acc3);
    }
    for (; i + 16 <= d; i += 16) {
        acc0 = Op::step(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    }
    if (i < d) {
        // Masked loads read only the remaining lanes (and never fault past the end).
        const auto mask = static_cast<__mmask16>((1u << (d - i)) - 1u);
        acc1 =
            Op::step(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i), acc1);
    }
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

#elif defined(__AVX2__) && defined(__FMA__)

struct Dot256 {
    static __m256 step(__m256 x, __m256 y, __m256 acc) { return _mm256_fmadd_ps(x, y, acc); }
};
struct L2256 {
    static __m256 step(__m256 x, __m256 y, __m256 acc) {
        const __m256 diff = _mm256_sub_ps(x, y);
        return _mm256_fmadd_ps(diff, diff, acc);
    }
};
struct L1256 {
    static __m256 step(__m256 x, __m256 y, __m256 acc) {
        const __m256 sign = _mm256_set1_ps(-0.0f);
        return _mm256_add_ps(acc, _mm256_andnot_ps(sign, _mm256_sub_ps(x, y)));
    }
};

inline float hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v);
    __m128 hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    __m128 shuf = _mm_movehdup_ps(lo);
    __m128 sums = _mm_add_ps(lo, shuf);
    shuf = _mm_movehl_ps(shuf, sums);
    sums = _mm_add_ss(sums, shuf);
    return _mm_cvtss_f32(sums);
}

template <typename Op, typename Scalar>
float avx2_kernel(const float* a, const float* b, std::size_t d) {
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps();
    __m256 acc3 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        acc0 = Op::step(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = Op::step(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
        acc2 = Op::step(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
        acc3 = Op::step(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
    }
    for (; i + 8 <= d; i += 8) {
        acc0 = Op::step(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    }
    float tail = 0.0f;
    for (; i < d; ++i) tail += Scalar::scalar(a[i], b[i]);
    return hsum256(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3))) + tail;
}

#endif

}  // namespace

float dot_f32(const float* a, const float* b, std::size_t d) {
#if defined(__AVX512F__)
    return avx512_kernel<Dot512>(a, b, d);
#elif defined(__AVX2__) && defined(__FMA__)
    return avx2_kernel<Dot256, DotOp>(a, b, d);
#else
    return scalar_kernel<DotOp>(a, b, d);
#endif
}

float l2_squared_f32(const float* a, const float* b, std::size_t d) {
#if defined(__AVX512F__)
    return avx512_kernel<L2512>(a, b, d);
#elif defined(__AVX2__) && defined(__FMA__)
    return avx2_kernel<L2256, L2Op>(a, b, d);
#else
    return scalar_kernel<L2Op>(a, b, d);
#endif
}

float l1_f32(const float* a, const float* b, std::size_t d) {
#if defined(__AVX512F__)
    return avx512_kernel<L1512>(a, b, d);
#elif defined(__AVX2__) && defined(__FMA__)
    return avx2_kernel<L1256, L1Op>(a, b, d);
#else
    return scalar_kernel<L1Op>(a, b, d);
#endif
}

namespace {

std::uint16_t half_from_float(float f) {
    std::uint32_t x = 0;
    std::memcpy(&x, &f, sizeof x);
    const std::uint32_t sign = (x >> 16) & 0x8000u;
    const std::uint32_t abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u)  // inf / nan
        return static_cast<std::uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
    if (abs >= 0x477ff000u)  // rounds to >= 65520: overflow
        return static_cast<std::uint16_t>(sign | 0x7c00u);
    if (abs < 0x38800000u) {  // subnormal half (or zero)
        if (abs < 0x33000000u)
            return static_cast<std::uint16_t>(sign);
        const std::uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
        const int shift = 126 - static_cast<int>(abs >> 23);  // 14..24
        const std::uint32_t half_mant = mant >> shift;
        const std::uint32_t rem = mant & ((1u << shift) - 1u);
        const std::uint32_t mid = 1u << (shift - 1);
        std::uint32_t r = half_mant;
        if (rem > mid || (rem == mid && (half_mant & 1u)))
            ++r;
        return static_cast<std::uint16_t>(sign | r);
    }
    std::uint32_t r = ((abs >> 13) - (112u << 10));
    const std::uint32_t rem = abs & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u)))
        ++r;
    return static_cast<std::uint16_t>(sign | r);
}

float float_from_half(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t mant = h & 0x3ffu;
    std::uint32_t x = 0;
    if (exp == 0) {
        if (mant == 0) {
            x = sign;
        } else {  // subnormal: normalise
            int e = -1;
            do {
                ++e;
                mant <<= 1;
            } while ((mant & 0x400u) == 0);
            x = sign | ((112u - static_cast<std::uint32_t>(e)) << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        x = sign | 0x7f800000u | (mant << 13);
    } else {
        x = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    float f = 0.0f;
    std::memcpy(&f, &x, sizeof f);
    return f;
}

}  // namespace

void f32_to_f16(const float* in, std::uint16_t* out, std::size_t n) {
    std::size_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
    }
#endif
    for (; i < n; ++i) out[i] = half_from_float(in[i]);
}

// GCC 12's _mm512_cvtph_ps passes _mm512_undefined_ps() as the mask source: a false
// -Wmaybe-uninitialized once inlined.
#pragma GCC diagnostic push
#if !defined(__clang__)  // (clang has no such warning)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
void f16_to_f32(const std::uint16_t* in, float* out, std::size_t n) {
    std::size_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
        _mm512_storeu_ps(out + i, _mm512_cvtph_ps(h));
    }
#endif
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
    }
#endif
    for (; i < n; ++i) out[i] = float_from_half(in[i]);
}
#pragma GCC diagnostic pop

// Compact-storage kernels. AVX-512 (16 lanes) or AVX2 (8 lanes): four accumulators over four
// vectors of values, the tail in scalar code; elsewhere: decode blocks of 64 values to float and
// use the kernels above.
// GCC 12's _mm512_cvtph_ps / _mm512_cvtepu8_epi32 pass undefined vectors as mask sources: false
// (maybe-)uninitialized warnings once inlined.
#pragma GCC diagnostic push
#if !defined(__clang__)  // (clang has no -Wmaybe-uninitialized)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"
namespace {

// The compact kernels' vectors: 16 lanes with AVX-512, 8 with AVX2 + FMA + F16C (AMD Zen 2/3,
// Intel before Ice Lake: most machines without AVX-512). Without either, blocks of 64 values are
// decoded to float and handed to the float32 kernels (`blocked`); AVX2 machines took that path
// until the twenty-first round of #14, where it was 2.5-3.4x slower for 8-bit rows than the AVX2
// kernel below (docs/performance.md).
#if defined(__AVX512F__)
#define EARSHOT_COMPACT_SIMD 1
using Vec = __m512;
constexpr std::size_t kLanes = 16;
using DotV = Dot512;
using L2V = L2512;
using L1V = L1512;
inline Vec vset1(float x) {
    return _mm512_set1_ps(x);
}
inline Vec vfmadd(Vec a, Vec b, Vec c) {
    return _mm512_fmadd_ps(a, b, c);
}
inline float vsum(Vec v) {
    return _mm512_reduce_add_ps(v);
}
inline Vec load_f16(const std::uint16_t* x) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
}
inline Vec load_u8(const std::uint8_t* c) {
    return _mm512_cvtepi32_ps(
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c))));
}
inline Vec load_f32(const float* x) {
    return _mm512_loadu_ps(x);
}
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define EARSHOT_COMPACT_SIMD 1
using Vec = __m256;
constexpr std::size_t kLanes = 8;
using DotV = Dot256;
using L2V = L2256;
using L1V = L1256;
inline Vec vset1(float x) {
    return _mm256_set1_ps(x);
}
inline Vec vfmadd(Vec a, Vec b, Vec c) {
    return _mm256_fmadd_ps(a, b, c);
}
inline float vsum(Vec v) {
    return hsum256(v);
}
inline Vec load_f16(const std::uint16_t* x) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)));
}
inline Vec load_u8(const std::uint8_t* c) {
    return _mm256_cvtepi32_ps(
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c))));
}
inline Vec load_f32(const float* x) {
    return _mm256_loadu_ps(x);
}
#endif

#if defined(EARSHOT_COMPACT_SIMD)
// Op::step(a, b, acc) on kLanes lanes; LoadA/LoadB decode kLanes stored values of each side;
// Tail(a, b) one value. Four accumulators over 4 * kLanes values, then one, then scalar.
template <typename Op, typename A, typename B, typename LoadA, typename LoadB, typename Tail>
float unrolled_kernel(
    const A* a, const B* b, std::size_t d, LoadA load_a, LoadB load_b, Tail tail) {
    Vec acc0 = vset1(0.0f);
    Vec acc1 = acc0;
    Vec acc2 = acc0;
    Vec acc3 = acc0;
    std::size_t i = 0;
    for (; i + 4 * kLanes <= d; i += 4 * kLanes) {
        acc0 = Op::step(load_a(a + i), load_b(b + i), acc0);
        acc1 = Op::step(load_a(a + i + kLanes), load_b(b + i + kLanes), acc1);
        acc2 = Op::step(load_a(a + i + 2 * kLanes), load_b(b + i + 2 * kLanes), acc2);
        acc3 = Op::step(load_a(a + i + 3 * kLanes), load_b(b + i + 3 * kLanes), acc3);
    }
    for (; i + kLanes <= d; i += kLanes) acc0 = Op::step(load_a(a + i), load_b(b + i), acc0);
    float rest = 0.0f;
    for (; i < d; ++i) rest += tail(a[i], b[i]);
    return vsum(acc0 + acc1 + (acc2 + acc3)) + rest;
}

// A float query against compactly stored values.
template <typename Op, typename T, typename Load, typename Tail>
float compact_kernel(const float* q, const T* x, std::size_t d, Load load, Tail tail) {
    return unrolled_kernel<Op>(q, x, d, load_f32, load, tail);
}
#else
// Portable path: decode 64 values at a time into a float block.
template <typename T, typename Decode, typename Kernel>
float blocked(const float* q, const T* x, std::size_t d, Decode decode, Kernel kernel) {
    float block[64];
    float sum = 0.0f;
    for (std::size_t i = 0; i < d; i += 64) {
        const std::size_t m = std::min<std::size_t>(64, d - i);
        decode(x + i, block, m);
        sum += kernel(q + i, block, m);
    }
    return sum;
}

template <typename Kernel>
float f16_pair_blocked(const std::uint16_t* a, const std::uint16_t* b, std::size_t d, Kernel k) {
    float x[64];
    float y[64];
    float sum = 0.0f;
    for (std::size_t i = 0; i < d; i += 64) {
        const std::size_t m = std::min<std::size_t>(64, d - i);
        f16_to_f32(a + i, x, m);
        f16_to_f32(b + i, y, m);
        sum += k(x, y, m);
    }
    return sum;
}
#endif

}  // namespace

float dot_f16(const float* q, const std::uint16_t* x, std::size_t d) {
#if defined(EARSHOT_COMPACT_SIMD)
    return compact_kernel<DotV>(q, x, d, load_f16,
                                [](float a, std::uint16_t h) { return a * float_from_half(h); });
#else
    return blocked(q, x, d, f16_to_f32, dot_f32);
#endif
}

float l2_squared_f16(const float* q, const std::uint16_t* x, std::size_t d) {
#if defined(EARSHOT_COMPACT_SIMD)
    return compact_kernel<L2V>(q, x, d, load_f16, [](float a, std::uint16_t h) {
        const float diff = a - float_from_half(h);
        return diff * diff;
    });
#else
    return blocked(q, x, d, f16_to_f32, l2_squared_f32);
#endif
}

float dot_f16_f16(const std::uint16_t* a, const std::uint16_t* b, std::size_t d) {
#if defined(EARSHOT_COMPACT_SIMD)
    return unrolled_kernel<DotV>(a, b, d, load_f16, load_f16, [](std::uint16_t x, std::uint16_t y) {
        return float_from_half(x) * float_from_half(y);
    });
#else
    return f16_pair_blocked(a, b, d, dot_f32);
#endif
}

float l2_squared_f16_f16(const std::uint16_t* a, const std::uint16_t* b, std::size_t d) {
#if defined(EARSHOT_COMPACT_SIMD)
    return unrolled_kernel<L2V>(a, b, d, load_f16, load_f16, [](std::uint16_t x, std::uint16_t y) {
        const float diff = float_from_half(x) - float_from_half(y);
        return diff * diff;
    });
#else
    return f16_pair_blocked(a, b, d, l2_squared_f32);
#endif
}

float l1_f16(const float* q, const std::uint16_t* x, std::size_t d) {
#if defined(EARSHOT_COMPACT_SIMD)
    return compact_kernel<L1V>(q, x, d, load_f16, [](float a, std::uint16_t h) {
        return std::fabs(a - float_from_half(h));
    });
#else
    return blocked(q, x, d, f16_to_f32, l1_f32);
#endif
}

float dot_u8(const float* q, const std::uint8_t* c, std::size_t d) {
#if defined(EARSHOT_COMPACT_SIMD)
    return compact_kernel<DotV>(q, c, d, load_u8,
                                [](float a, std::uint8_t v) { return a * static_cast<float>(v); });
#else
    auto decode = [](const std::uint8_t* in, float* out, std::size_t m) {
        for (std::size_t j = 0; j < m; ++j) out[j] = static_cast<float>(in[j]);
    };
    return blocked(q, c, d, decode, dot_f32);
#endif
}

float l1_u8(const float* q, const std::uint8_t* c, float lo, float step, std::size_t d) {
#if defined(EARSHOT_COMPACT_SIMD)
    const Vec vlo = vset1(lo);
    const Vec vstep = vset1(step);
    auto load = [&](const std::uint8_t* p) { return vfmadd(load_u8(p), vstep, vlo); };
    return compact_kernel<L1V>(q, c, d, load, [lo, step](float a, std::uint8_t v) {
        return std::fabs(a - (lo + step * static_cast<float>(v)));
    });
#else
    auto decode = [lo, step](const std::uint8_t* in, float* out, std::size_t m) {
        for (std::size_t j = 0; j < m; ++j) out[j] = lo + step * static_cast<float>(in[j]);
    };
    return blocked(q, c, d, decode, l1_f32);
#endif
}
#pragma GCC diagnostic pop

Sq8Row encode_sq8(const float* x, std::size_t d, std::uint8_t* c) {
    if (d == 0)
        return {0.0f, 0.0f, 0.0f};
    const auto [mn, mx] = std::minmax_element(x, x + d);
    const float lo = *mn;
    const float step = (*mx - lo) / 255.0f;
    float sqnorm = 0.0f;
    for (std::size_t i = 0; i < d; ++i) {
        const float v = step > 0.0f ? std::nearbyint((x[i] - lo) / step) : 0.0f;
        c[i] = static_cast<std::uint8_t>(std::clamp(v, 0.0f, 255.0f));
        const float decoded = lo + step * static_cast<float>(c[i]);
        sqnorm += decoded * decoded;
    }
    return {lo, step, sqnorm};
}

const char* simd_level() {
#if defined(__AVX512F__)
    return "avx512";
#elif defined(__AVX2__) && defined(__FMA__)
    return "avx2";
#else
    return "scalar";
#endif
}

}  // namespace earshot::detail
