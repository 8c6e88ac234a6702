#include "server/web_assets.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <system_error>

namespace earshot::web {
namespace {

bool is_plain_relative_name(std::string_view name) {
    if (name.empty() || name.size() > 200)
        return false;
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t end = name.find('/', start);
        if (end == std::string_view::npos)
            end = name.size();
        std::string_view part = name.substr(start, end - start);
        if (part.empty() || part.front() == '.')
            return false;  // empty segment, '.', '..' or a hidden file
        for (char c : part) {
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
            if (!ok)
                return false;
        }
        start = end + 1;
    }
    return true;
}

std::optional<Asset> read_from_dir(const std::filesystem::path& web_dir, const std::string& name) {
    std::error_code ec;
    auto root = std::filesystem::canonical(web_dir, ec);
    if (ec)
        return std::nullopt;
    auto file = std::filesystem::canonical(root / name, ec);
    if (ec || !std::filesystem::is_regular_file(file, ec))
        return std::nullopt;
    // Symlinks inside web_dir must not lead outside it.
    auto rel = file.lexically_relative(root);
    if (rel.empty() || *rel.begin() == "..")
        return std::nullopt;
    std::ifstream in(file, std::ios::binary);
    if (!in)
        return std::nullopt;
    Asset a;
    a.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    a.content_type = content_type_for(name);
    return a;
}

}  // namespace

std::string content_type_for(std::string_view name) {
    auto ends_with = [&](std::string_view ext) {
        return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
    };
    if (ends_with(".html"))
        return "text/html; charset=utf-8";
    if (ends_with(".js") || ends_with(".mjs"))
        return "text/javascript; charset=utf-8";
    if (ends_with(".css"))
        return "text/css; charset=utf-8";
    if (ends_with(".svg"))
        return "image/svg+xml";
    if (ends_with(".png"))
        return "image/png";
    if (ends_with(".json"))
        return "application/json";
    if (ends_with(".ico"))
        return "image/x-icon";
    return "application/octet-stream";
}

std::optional<Asset> find_asset(std::string_view request_path,
                                const std::filesystem::path& web_dir) {
    if (request_path.empty() || request_path.front() != '/')
        return std::nullopt;
    std::string name(request_path.substr(1));
    if (name.empty())
        name = "index.html";
    if (!is_plain_relative_name(name))
        return std::nullopt;
    if (!web_dir.empty())
        return read_from_dir(web_dir, name);
    const EmbeddedFile* end = kEmbeddedFiles + kEmbeddedFileCount;
    const EmbeddedFile* f =
        std::find_if(kEmbeddedFiles, end, [&](const EmbeddedFile& e) { return name == e.name; });
    if (f == end)
        return std::nullopt;
    Asset a;
    a.body.assign(reinterpret_cast<const char*>(f->data), f->size);
    a.content_type = content_type_for(name);
    return a;
}

std::string etag_for(std::string_view body) {
    std::uint64_t h = 14695981039346656037ULL;
    for (char c : body) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ULL;
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string tag = "W/\"";
    for (int shift = 60; shift >= 0; shift -= 4) tag += kHex[(h >> shift) & 0xf];
    tag += '"';
    return tag;
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
    auto opaque = [](std::string_view t) {
        while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
        while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
        if (t.substr(0, 2) == "W/")
            t.remove_prefix(2);
        return t;
    };
    const std::string_view want = opaque(etag);
    std::size_t start = 0;
    while (start <= if_none_match.size()) {
        std::size_t end = if_none_match.find(',', start);
        if (end == std::string_view::npos)
            end = if_none_match.size();
        const std::string_view tag = opaque(if_none_match.substr(start, end - start));
        if (tag == "*" || (!tag.empty() && tag == want))
            return true;
        start = end + 1;
    }
    return false;
}

std::string with_boot_json(std::string_view html, std::string_view boot_json) {
    const std::size_t at = html.find(kBootElement);
    if (at == std::string_view::npos)
        return std::string(html);
    constexpr std::string_view kClose = "</script>";
    const std::size_t content_at = at + kBootElement.size() - kClose.size();
    std::string out;
    out.reserve(html.size() + boot_json.size() + 64);
    out.append(html.substr(0, content_at));
    for (char c : boot_json) {
        if (c == '<')
            out += "\\u003c";
        else
            out += c;
    }
    out.append(html.substr(content_at));
    return out;
}

}  // namespace earshot::web
