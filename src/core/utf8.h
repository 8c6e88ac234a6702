// Byte strings that are not always UTF-8: Linux paths (and tags read from files) are bytes, JSON
// is UTF-8. These helpers check, show and losslessly carry such strings (docs/formats.md, "Paths
// in JSON"). Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace earshot {

// Whether bytes are well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view bytes);
// A readable UTF-8 form: valid sequences as they are, every other byte as U+FFFD. Not reversible.
std::string utf8_lossy(std::string_view bytes);
// Standard base64 (RFC 4648 section 4, with '=' padding).
std::string base64_encode(std::string_view bytes);
// Inverse of base64_encode; nullopt on any character outside the alphabet or a bad length.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace earshot
