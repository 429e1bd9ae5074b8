// The status page: GET /admin/ on --admin-listen (GET /admin redirects
// there). One self-contained HTML page (router/status_page.html, embedded in
// the binary at build time) that polls /admin/status and shows the
// backends, the pending work, the apply rate and the recent events.
#pragma once

#include <string_view>

#include "router/http/exchange.h"

namespace fsr::router {

// The page's bytes (generated from router/status_page.html).
std::string_view status_page_html();

// Answers GET and HEAD of /admin/ and /admin; false for any other request.
bool status_page_route(const http::RequestHead& req, http::Response& res);

}  // namespace fsr::router
