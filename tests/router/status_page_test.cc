// The status page at /admin/ (router/status_page.h): served on the admin
// listener only, self-contained, and what headless Chromium draws from it
// matches /admin/status. The Chromium test is skipped only when no chromium
// is installed (scripts/install-deps.sh installs it).
//
// FSR_STATUS_PAGE_SCREENSHOT=FILE also copies the screenshot taken of a
// router with three backends, one of them down, and pending work there
// (docs/images/status-page.png comes from it).
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <sstream>

#include "tests/support/stack.h"

namespace fsr::test {
namespace {

using std::chrono::seconds;

std::string find_chromium() {
  const char* path = getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    for (const char* name : {"chromium", "chromium-browser"})
      if (file_exists(dir + "/" + name)) return dir + "/" + name;
  return "";
}

// Runs headless Chromium on url with `what` (--dump-dom, --screenshot=...),
// letting the page's scripts run for a few seconds of virtual time; returns
// its stdout.
std::string run_chromium(const std::string& chromium, const TempDir& dir, const std::string& url,
                         const std::string& what) {
  std::string out = dir / "chromium.out", err = dir / "chromium.err";
  std::string command = chromium +
                        " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run"
                        " --user-data-dir=" + dir / "chromium-profile" +
                        " --virtual-time-budget=3000 --window-size=1280,900 " + what + " '" + url + "' >" + out +
                        " 2>" + err;
  ChildProcess browser({"/bin/sh", "-c", command}, dir / "chromium.log");
  int status = browser.wait(seconds(120));
  EXPECT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "chromium: status " << status << "\n" << read_file(err);
  return read_file(out);
}

// The text of the element carrying data-field="name", tags and the
// thousands separators of numbers taken out; "<missing>" when none has it.
std::string dom_field(const std::string& dom, const std::string& name) {
  size_t at = dom.find("data-field=\"" + name + "\"");
  if (at == std::string::npos) return "<missing>";
  size_t open = dom.rfind('<', at);
  std::string tag = dom.substr(open + 1, dom.find_first_of(" >", open) - open - 1);
  size_t start = dom.find('>', at) + 1;
  size_t end = dom.find("</" + tag + ">", start);
  std::string text = std::regex_replace(dom.substr(start, end - start), std::regex("<[^>]*>"), "");
  if (std::regex_match(text, std::regex("[0-9,]+"))) text.erase(std::remove(text.begin(), text.end(), ','), text.end());
  return text;
}

std::string number(const nlohmann::json& j) { return std::to_string(j.get<uint64_t>()); }

// The numbers of /admin/status `s` as the page drew them in `dom`.
void expect_page_shows(const std::string& dom, const nlohmann::json& s) {
  ASSERT_NE(dom.find("data-loaded=\"true\""), std::string::npos) << "the page never drew a status:\n" << dom;
  EXPECT_EQ(dom_field(dom, "pending_count"), number(s["pending_count"]));
  EXPECT_EQ(dom_field(dom, "last_seq"), number(s["last_seq"]));
  EXPECT_EQ(dom_field(dom, "applied_seq"), number(s["applied_seq"]));
  ASSERT_EQ(s["backends"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const auto& b = s["backends"][i];
    std::string p = "backends." + std::to_string(i) + ".";
    EXPECT_EQ(dom_field(dom, p + "address"), b["address"].get<std::string>());
    EXPECT_EQ(dom_field(dom, p + "role"), b["role"].get<std::string>());
    EXPECT_EQ(dom_field(dom, p + "health"), b["healthy"].get<bool>() ? "healthy" : "down");
    EXPECT_EQ(dom_field(dom, p + "watermark"), number(b["watermark"]));
    EXPECT_EQ(dom_field(dom, p + "lag"), std::to_string(s["last_seq"].get<int64_t>() - b["watermark"].get<int64_t>()));
  }
}

TEST(StatusPage, AdminSlashServesOneSelfContainedPageAndAdminRedirectsThere) {
  Stack stack("statuspage-http");
  stack.start_backends(1, 5);
  stack.start_router();
  httplib::Client admin("127.0.0.1", stack.router_admin_port());
  auto page = admin.Get("/admin/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("<!DOCTYPE html>"), std::string::npos);
  EXPECT_NE(page->body.find("fetch(\"/admin/status\""), std::string::npos);
  EXPECT_NE(page->body.find("data-field=\"pending_count\""), std::string::npos);
  // Nothing loaded from elsewhere: no external script, style, image or font.
  EXPECT_FALSE(std::regex_search(page->body, std::regex("(src|href)=\"?(https?:)?//")));
  EXPECT_EQ(page->body.find("<link"), std::string::npos);
  EXPECT_EQ(page->body.find("@import"), std::string::npos);

  auto bare = admin.Get("/admin");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->status, 301);
  EXPECT_EQ(bare->get_header_value("Location"), "/admin/");
  auto head = admin.Head("/admin/");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);

  // Not on the client-facing address, like /admin/status.
  auto front = stack.client()->Get("/admin/");
  ASSERT_TRUE(front);
  EXPECT_EQ(front->status, 404);
}

TEST(StatusPage, ChromiumDrawsWhatAdminStatusSays) {
  std::string chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "chromium is not installed (scripts/install-deps.sh installs it)";
  Stack stack("statuspage");
  stack.start_backends(3, 5);
  // A hung primary stays primary for the screenshot below: only a refused
  // connection (the kill) fails it over within the test.
  stack.start_router({"--probe-timeout-ms", "60000", "--stall-timeout-ms", "120000"});
  for (int i = 0; i < 20; ++i) ASSERT_NE(stack.put("first-" + std::to_string(i), random_body(2000, i)), 0u);
  // Settled: nothing pending, every live backend at the last sequence (a
  // replica confirmed through the marker, so that it may take over).
  auto settled = [&] {
    auto s = stack.status();
    if (!s.is_object() || s["pending_count"] != 0 || s["applied_seq"] != s["last_seq"]) return false;
    for (auto& b : s["backends"])
      if (b["healthy"].get<bool>() && b["watermark"] != s["last_seq"]) return false;
    return true;
  };
  ASSERT_TRUE(wait_until(settled, seconds(30))) << stack.status().dump(2);

  // A failover: the primary killed, a replica takes over.
  std::string first_primary = stack.status()["backends"][0]["address"];
  stack.kill_backend(0);
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = stack.status();
        return s.is_object() && !s["backends"][0]["healthy"].get<bool>() && s["backends"][0]["role"] == "replica";
      },
      seconds(30)))
      << stack.logs();
  for (int i = 0; i < 10; ++i) ASSERT_NE(stack.put("second-" + std::to_string(i), random_body(3000, 100 + i)), 0u);
  ASSERT_TRUE(wait_until(settled, seconds(30))) << stack.status().dump(2);

  TempDir dir("fsr-statuspage");
  std::string url = "http://127.0.0.1:" + std::to_string(stack.router_admin_port()) + "/admin/";
  std::string dom = run_chromium(chromium, dir, url, "--dump-dom");
  auto s = stack.status();
  expect_page_shows(dom, s);
  EXPECT_EQ(dom_field(dom, "overall"), "1 BACKEND DOWN");
  // The failover is among the recent events, in the JSON and on the page.
  bool failover_listed = false;
  for (auto& e : s["recent_events"])
    if (e["event"] == "primary_changed" && e["fields"]["from"] == first_primary) failover_listed = true;
  EXPECT_TRUE(failover_listed) << s["recent_events"].dump(2);
  EXPECT_NE(dom.find("data-event=\"primary_changed\""), std::string::npos);
  EXPECT_NE(dom.find("data-event=\"listening\""), std::string::npos) << "the router's start";

  // Pending work for the picture: the new primary hangs (SIGSTOP), writes
  // are still acknowledged from the journal and wait for it.
  int primary = -1;
  for (int i = 0; i < 3; ++i)
    if (s["backends"][i]["role"] == "primary") primary = i;
  ASSERT_GT(primary, 0);
  stack.backend(primary).signal(SIGSTOP);
  for (int i = 0; i < 12; ++i) ASSERT_NE(stack.put("pending-" + std::to_string(i), random_body(5000, 200 + i)), 0u);
  ASSERT_TRUE(wait_until([&] { return stack.status()["oldest_pending_age_ms"].get<int64_t>() >= 1500; }, seconds(10)));
  // Nothing the page is checked on moves while the primary hangs.
  dom = run_chromium(chromium, dir, url, "--dump-dom");
  auto pending = stack.status();
  EXPECT_EQ(pending["pending_count"], 12) << pending.dump(2);
  EXPECT_EQ(pending["last_seq"].get<uint64_t>(), s["last_seq"].get<uint64_t>() + 12);
  expect_page_shows(dom, pending);
  std::string png = dir / "status-page.png";
  run_chromium(chromium, dir, url, "--screenshot=" + png);
  stack.backend(primary).signal(SIGCONT);
  std::string image = read_file(png);
  ASSERT_GT(image.size(), 10000u);
  EXPECT_EQ(image.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  if (const char* keep = getenv("FSR_STATUS_PAGE_SCREENSHOT")) std::filesystem::copy_file(
      png, keep, std::filesystem::copy_options::overwrite_existing);
}

}  // namespace
}  // namespace fsr::test
