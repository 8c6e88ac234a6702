// The index registry: the list of built-in kinds (each row lives in its kind's source file),
// run-time registration, spec parsing by prefix, and the help text generated from the rows.
#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "core/format.h"
#include "index/hnsw_index.h"
#include "index/index_file.h"
#include "index/index_kinds.h"
#include "index/vector_index.h"

namespace earshot {
namespace {

// The one list of built-in kinds.
const IndexKind* const kBuiltInIndexKinds[] = {
    &kFlatIndexKind,
    &kHnswIndexKind,
    &kSqIndexKind,
    &kIvfPqIndexKind,
};

std::vector<IndexKind>& rows() {
    static std::vector<IndexKind> all = [] {
        std::vector<IndexKind> v;
        for (const IndexKind* k : kBuiltInIndexKinds) v.push_back(*k);
        return v;
    }();
    return all;
}

// The ANN spec `auto` switches to at kAutoAnnThreshold items.
std::string auto_ann_spec() {
    return "HNSW" + std::to_string(kHnswDefaultM);
}

}  // namespace

std::string detail::lower_spec(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool detail::parse_positive(std::string_view s, int& out) {
    if (s.empty())
        return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && out > 0;
}

Error detail::bad_index_spec(std::string_view text) {
    std::string forms;
    for (const auto& k : rows()) {
        if (!forms.empty())
            forms += ", ";
        forms += k.syntax;
    }
    return Error(ErrorCode::kInvalidArgument,
                 "unknown index spec '" + std::string(text) + "' (known: " + forms + ", auto)");
}

const std::vector<IndexKind>& index_kinds() {
    return rows();
}

Status register_index_kind(const IndexKind& kind) {
    const std::string_view name = kind.name == nullptr ? "" : kind.name;
    const std::string_view prefix = kind.prefix == nullptr ? "" : kind.prefix;
    if (name.empty() || prefix.empty() || prefix != detail::lower_spec(prefix) ||
        kind.parse == nullptr || kind.make == nullptr || kind.load == nullptr) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("index kind '{}': needs a name, a lower-case prefix, parse, "
                                      "make and load",
                                      name));
    }
    for (const auto& k : rows()) {
        const std::string_view p = k.prefix;
        if (name == k.name || prefix.starts_with(p) || p.starts_with(prefix)) {
            return make_error(
                ErrorCode::kAlreadyExists,
                fmt::format("index kind '{}' (prefix '{}') collides with '{}' (prefix '{}')", name,
                            prefix, k.name, k.prefix));
        }
    }
    rows().push_back(kind);
    return ok_status();
}

const IndexKind* find_index_kind(std::string_view name) {
    for (const auto& k : rows()) {
        if (name == k.name)
            return &k;
    }
    return nullptr;
}

Result<IndexSpec> parse_index_spec(std::string_view text) {
    const std::string t = detail::lower_spec(text);
    for (const auto& k : rows()) {
        if (!t.starts_with(k.prefix))
            continue;
        auto spec = k.parse(text);
        if (!spec && spec.error().code() == ErrorCode::kInvalidArgument)
            return tl::unexpected(detail::bad_index_spec(text));
        return spec;
    }
    return tl::unexpected(detail::bad_index_spec(text));
}

std::string auto_index_spec(std::size_t n_items) {
    return n_items < kAutoAnnThreshold ? std::string("flat") : auto_ann_spec();
}

Result<std::unique_ptr<VectorIndex>> make_index(std::string_view text, int dim, Metric metric) {
    EARSHOT_ASSIGN_OR_RETURN(auto spec, parse_index_spec(text));
    if (dim <= 0)
        return make_error(ErrorCode::kInvalidArgument, "index dim must be positive");
    const IndexKind* kind = find_index_kind(spec.kind);
    if (kind == nullptr)
        return tl::unexpected(detail::bad_index_spec(text));
    return kind->make(spec, dim, metric);
}

std::string index_spec_help() {
    std::string forms;
    for (const auto& k : rows()) {
        if (k.index_help == nullptr)
            continue;
        forms += k.index_help() + ", ";
    }
    return fmt::format(
        "Index spec: {}or auto (default: flat below {} items in the space, {} from "
        "there on)",
        forms, thousands(kAutoAnnThreshold), auto_ann_spec());
}

namespace {
std::string join_help(std::string (*IndexKind::*field)()) {
    std::string out;
    for (const auto& k : rows()) {
        if (k.*field == nullptr)
            continue;
        if (!out.empty())
            out += "; ";
        out += (k.*field)();
    }
    return out;
}
}  // namespace

std::string index_ef_search_help() {
    return join_help(&IndexKind::ef_search_help);
}

std::string index_nprobe_help() {
    return join_help(&IndexKind::nprobe_help);
}

Status upsert(VectorIndex& index, std::span<const std::int64_t> ids, const Matrix& vectors) {
    if (ids.size() != vectors.n_rows) {
        return make_error(ErrorCode::kInvalidArgument,
                          "upsert: " + std::to_string(ids.size()) + " ids for " +
                              std::to_string(vectors.n_rows) + " vectors");
    }
    std::vector<std::int64_t> present;
    for (auto id : ids) {
        if (index.contains(id))
            present.push_back(id);
    }
    index.remove(present);
    return index.add(ids, vectors);
}

}  // namespace earshot
