// Reader and writer for the safetensors container (F32 tensors only), as specified in
// ../shared/models/MODELS.md §1.1: u64 LE header size N, N bytes of JSON, then raw LE data.
// Tensors are returned as our own type (no torch here); shape is row-major (C order).
// Thread-safety: a loaded SafeTensors object is immutable and safe to share.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace earshot {

struct Tensor {
    std::vector<std::int64_t> shape;
    std::vector<float> data;  // prod(shape) floats, C order

    std::int64_t numel() const;
};

struct SafeTensors {
    std::map<std::string, Tensor> tensors;
    std::map<std::string, std::string> metadata;

    // kNotFound if the name is absent (message lists nothing; callers add context).
    Result<const Tensor*> get(const std::string& name) const;
    // Like get() but also checks the shape; kCorruption on mismatch.
    Result<const Tensor*> get(const std::string& name,
                              const std::vector<std::int64_t>& shape) const;
};

// Parses a whole file. kNotFound if missing, kCorruption for a malformed header, offsets out of
// range, non-F32 dtypes or sizes that disagree with shapes.
Result<SafeTensors> load_safetensors(const std::filesystem::path& path);
Result<SafeTensors> parse_safetensors(const std::uint8_t* bytes, std::size_t size);

// Serialises tensors (in map order) with optional metadata; the inverse of parse_safetensors.
std::string serialize_safetensors(const SafeTensors& st);
Status save_safetensors(const std::filesystem::path& path, const SafeTensors& st);

}  // namespace earshot
