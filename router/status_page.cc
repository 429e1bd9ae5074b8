#include "router/status_page.h"

namespace fsr::router {

bool status_page_route(const http::RequestHead& req, http::Response& res) {
  if (req.method != "GET" && req.method != "HEAD") return false;
  std::string_view path = req.path();
  if (path == "/admin") {
    http::plain(res, 301, "moved to /admin/");
    res.set_header("Location", "/admin/");
    return true;
  }
  if (path != "/admin/") return false;
  res.status = 200;
  res.content_type = "text/html; charset=utf-8";
  res.set_header("Cache-Control", "no-store");
  res.body = std::string(status_page_html());
  return true;
}

}  // namespace fsr::router
