// Class / tag names of a model's score outputs, read from the CSV files shipped with the
// pretrained models (../shared/models/<model>/original/*.csv) or from a JSON list stored in
// weights.safetensors metadata (musicnn's `labels` key). Labels are returned in score order:
// labels[i] names column i of Embeddings::scores. All functions are thread-safe.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace earshot {

// Parses CSV text with a header row (RFC 4180 quoting: "a, b" and "" escapes; LF or CRLF).
// column: the header name whose values are the labels; empty picks "display_name", else
// "name", else the last column. If an "index" column exists, its values must be 0, 1, 2, ...
// in order. Formats handled: yamnet_class_map.csv and class_labels_indices.csv
// (index,mid,display_name), musicnn labels_*.csv (index,name).
// Errors: kCorruption for a missing column, ragged rows, bad quoting or out-of-order indices;
// kInvalidArgument if `column` names no header. `source` names the input in messages.
Result<std::vector<std::string>> parse_labels_csv(std::string_view text,
                                                  std::string_view column = {},
                                                  std::string_view source = "labels");
// Reads and parses a label CSV file (as parse_labels_csv). kNotFound if the file is missing.
Result<std::vector<std::string>> read_labels_csv(const std::filesystem::path& path,
                                                 std::string_view column = {});
// Parses a JSON array of strings, e.g. `["rock", "pop"]`. kCorruption otherwise.
Result<std::vector<std::string>> parse_labels_json(std::string_view json,
                                                   std::string_view source = "labels");

}  // namespace earshot
