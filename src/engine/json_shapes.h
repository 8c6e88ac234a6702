// The JSON shapes of items, search responses, tags and catalog stats: one codec per shape, used
// by the CLI's --json output and the HTTP API alike (docs/cli.md, docs/http-api.md). Byte strings
// (paths, names, tags) go through put_bytes_field. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "engine/engine.h"

namespace earshot {

// Sets j[key] to bytes (a path, a file name, a tag) if they are valid UTF-8. Otherwise j[key] is
// a readable form (each invalid byte as U+FFFD) and j[key + "_b64"] holds the exact bytes in
// base64, so that every JSON output stays valid and readers can restore the bytes
// (docs/formats.md, "Byte strings in JSON").
void put_bytes_field(nlohmann::json& j, const std::string& key, std::string_view bytes);

// The `earshot search --json` shape (docs/cli.md), each result with its id.
nlohmann::json search_response_json(const SearchResponse& response);
// [{"tag": ..., "score": ...}, ...] (tag as put_bytes_field).
nlohmann::json tags_json(const std::vector<TagScore>& tags);
// The `earshot list --json` item shape.
nlohmann::json item_json(const ItemRecord& item);
// The same plus "folder" (see folder_of).
nlohmann::json item_json(const ItemRecord& item, std::string_view folder);
// The `earshot info --json` shape.
nlohmann::json stats_json(const CatalogStats& stats, const std::string& db);

// The library folder an item belongs to, for colouring the map: the first path component below
// root (the items' common folder); "" when the item sits directly in root.
std::string folder_of(std::string_view item_path, std::string_view root);
// The longest common folder of two folders, by whole components ("/" or "" for none).
std::string common_folder(std::string_view a, std::string_view b);

}  // namespace earshot
