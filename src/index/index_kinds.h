// The built-in index kinds' registry rows (each defined in its kind's source file) and the small
// spec-parsing helpers they share. Only index sources and tests include this; everyone else goes
// through make_index() / index_kinds() in index/vector_index.h.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "index/vector_index.h"

namespace earshot {

// The rows, in the order index_registry.cpp lists them.
extern const IndexKind kFlatIndexKind;   // flat_vector_index.cpp: "flat"
extern const IndexKind kHnswIndexKind;   // hnsw_index.cpp: "HNSW<M>[,efC<N>][,SQfp16]"
extern const IndexKind kSqIndexKind;     // sq_index.cpp: "SQ8", "SQfp16"
extern const IndexKind kIvfPqIndexKind;  // ivfpq_index.cpp: "IVF<nlist>,PQ<m>"

namespace detail {
// ASCII lower case.
std::string lower_spec(std::string_view s);
// A positive decimal number that makes up all of s.
bool parse_positive(std::string_view s, int& out);
// kInvalidArgument "unknown index spec 'text' (known: <every syntax>, auto)".
Error bad_index_spec(std::string_view text);
}  // namespace detail

}  // namespace earshot
