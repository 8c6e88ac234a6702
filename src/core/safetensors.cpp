#include "core/safetensors.h"

#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/file_util.h"

namespace earshot {

std::int64_t Tensor::numel() const {
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
}

Result<const Tensor*> SafeTensors::get(const std::string& name) const {
    auto it = tensors.find(name);
    if (it == tensors.end()) {
        return make_error(ErrorCode::kNotFound, fmt::format("tensor '{}' not found", name));
    }
    return &it->second;
}

Result<const Tensor*> SafeTensors::get(const std::string& name,
                                       const std::vector<std::int64_t>& shape) const {
    EARSHOT_ASSIGN_OR_RETURN(const Tensor* t, get(name));
    if (t->shape != shape) {
        return make_error(ErrorCode::kCorruption,
                          fmt::format("tensor '{}' has shape [{}], expected [{}]", name,
                                      fmt::join(t->shape, ","), fmt::join(shape, ",")));
    }
    return t;
}

Result<SafeTensors> parse_safetensors(const std::uint8_t* bytes, std::size_t size) {
    if (size < 8)
        return make_error(ErrorCode::kCorruption, "safetensors: file shorter than 8 bytes");
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
    if (n > size - 8) {
        return make_error(ErrorCode::kCorruption,
                          fmt::format("safetensors: header size {} exceeds file size {}", n, size));
    }
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(bytes + 8, bytes + 8 + n);
    } catch (const nlohmann::json::exception& e) {
        return make_error(ErrorCode::kCorruption,
                          fmt::format("safetensors: bad header: {}", e.what()));
    }
    if (!header.is_object()) {
        return make_error(ErrorCode::kCorruption, "safetensors: header is not a JSON object");
    }
    const std::uint8_t* data = bytes + 8 + n;
    std::size_t data_size = size - 8 - static_cast<std::size_t>(n);
    SafeTensors st;
    try {
        for (auto& [key, value] : header.items()) {
            if (key == "__metadata__") {
                for (auto& [mk, mv] : value.items()) {
                    st.metadata[mk] = mv.is_string() ? mv.get<std::string>() : mv.dump();
                }
                continue;
            }
            std::string dtype = value.at("dtype").get<std::string>();
            if (dtype != "F32") {
                return make_error(ErrorCode::kCorruption,
                                  fmt::format("safetensors: tensor '{}' has dtype {} (only F32 "
                                              "is supported)",
                                              key, dtype));
            }
            Tensor t;
            // Integers only: get<> of a float such as -1.36 into an integer type is undefined
            // behaviour (found by fuzz/fuzz_safetensors).
            // (named copies: clang 14 cannot capture structured bindings)
            const std::string& name = key;
            const nlohmann::json& entry = value;
            auto integers = [&](const char* field) -> Result<std::vector<std::uint64_t>> {
                const auto& arr = entry.at(field);
                std::vector<std::uint64_t> out;
                if (!arr.is_array()) {
                    return make_error(
                        ErrorCode::kCorruption,
                        fmt::format("safetensors: tensor '{}' {} is not an array", name, field));
                }
                for (const auto& v : arr) {
                    if (!v.is_number_unsigned()) {
                        return make_error(ErrorCode::kCorruption,
                                          fmt::format("safetensors: tensor '{}' {} must hold "
                                                      "non-negative integers",
                                                      name, field));
                    }
                    out.push_back(v.get<std::uint64_t>());
                }
                return out;
            };
            EARSHOT_ASSIGN_OR_RETURN(auto dims, integers("shape"));
            EARSHOT_ASSIGN_OR_RETURN(auto offsets, integers("data_offsets"));
            // The element count must fit the data (checked without overflow).
            std::uint64_t count = 1;
            for (auto d : dims) {
                if (d != 0 && count > (data_size / 4) / d) {
                    return make_error(ErrorCode::kCorruption,
                                      fmt::format("safetensors: tensor '{}' shape is larger than "
                                                  "the file",
                                                  key));
                }
                count *= d;
                t.shape.push_back(static_cast<std::int64_t>(d));
            }
            if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size) {
                return make_error(
                    ErrorCode::kCorruption,
                    fmt::format("safetensors: tensor '{}' offsets out of range", key));
            }
            auto numel = static_cast<std::uint64_t>(t.numel());
            if (offsets[1] - offsets[0] != numel * 4) {
                return make_error(ErrorCode::kCorruption,
                                  fmt::format("safetensors: tensor '{}' byte size {} != 4*{}", key,
                                              offsets[1] - offsets[0], numel));
            }
            t.data.resize(numel);
            if (numel > 0)
                std::memcpy(t.data.data(), data + offsets[0], numel * 4);
            st.tensors.emplace(key, std::move(t));
        }
    } catch (const nlohmann::json::exception& e) {
        return make_error(ErrorCode::kCorruption,
                          fmt::format("safetensors: bad tensor entry: {}", e.what()));
    }
    return st;
}

Result<SafeTensors> load_safetensors(const std::filesystem::path& path) {
    EARSHOT_ASSIGN_OR_RETURN(auto bytes, read_file_bytes(path));
    auto st = parse_safetensors(bytes.data(), bytes.size());
    if (!st)
        return tl::unexpected(st.error().with_context(path.string()));
    return st;
}

std::string serialize_safetensors(const SafeTensors& st) {
    nlohmann::json header = nlohmann::json::object();
    if (!st.metadata.empty())
        header["__metadata__"] = st.metadata;
    std::uint64_t offset = 0;
    for (const auto& [name, t] : st.tensors) {
        std::uint64_t bytes = t.data.size() * 4;
        header[name] = {
            {"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string h = header.dump();
    while ((8 + h.size()) % 8 != 0) h.push_back(' ');
    std::string out;
    out.reserve(8 + h.size() + offset);
    std::uint64_t n = h.size();
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    out += h;
    for (const auto& [name, t] : st.tensors) {
        out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size() * 4);
    }
    return out;
}

Status save_safetensors(const std::filesystem::path& path, const SafeTensors& st) {
    return write_file_atomic(path, serialize_safetensors(st));
}

}  // namespace earshot
