// Small file helpers: whole-file reads, content hashing, the shared/ and models directories.
// All functions are thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"

namespace earshot {

// Reads a whole file. kNotFound if missing, kIoError otherwise.
Result<std::vector<std::uint8_t>> read_file_bytes(const std::filesystem::path& path);
Result<std::string> read_file_text(const std::filesystem::path& path);
// Writes atomically: to "<path>.tmp" then rename. kIoError on failure.
Status write_file_atomic(const std::filesystem::path& path, std::string_view contents);

// 64-bit content hash (XXH64-style, seed 0) of a whole file, as 16 lowercase hex digits.
// Streams the file; kNotFound / kIoError.
Result<std::string> hash_file(const std::filesystem::path& path);
std::uint64_t hash_bytes(const void* data, std::size_t size, std::uint64_t seed = 0);

// The shared folder: $EARSHOT_SHARED_DIR if set, else the compiled-in default
// (EARSHOT_SHARED_DIR at configure time, i.e. <repo>/../shared).
std::filesystem::path shared_dir();

// Where pretrained models are looked up, first match wins:
//   1. explicit (the --models-dir flag) if non-empty
//   2. $EARSHOT_MODELS_DIR
//   3. <shared_dir()>/models
//   4. $XDG_DATA_HOME/earshot/models (default ~/.local/share/earshot/models)
// Returns the list in that order (callers report all of them when weights are missing).
std::vector<std::filesystem::path> model_search_dirs(const std::filesystem::path& explicit_dir);

}  // namespace earshot
