// The HTTP side of the API's JSON (docs/http-api.md): error bodies and the one mapping from
// ErrorCode to HTTP status. The shapes of items, searches, tags and stats, which the CLI prints
// too, are engine/json_shapes.h. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "engine/json_shapes.h"

namespace earshot::server {

// 400 kInvalidArgument, 404 kNotFound, 409 kAlreadyExists, 415 kNotSupported, 503 kUnavailable,
// 500 otherwise.
int http_status_for(ErrorCode code);
// {"error": {"code": "NotFound", "message": "..."}}
nlohmann::json error_json(std::string_view code_name, std::string_view message);
nlohmann::json error_json(const Error& error);
// Code name for statuses that have no ErrorCode (413, 405, 416, ...) and for the ones that do.
std::string_view code_name_for_status(int status);

}  // namespace earshot::server
