#include "loadtest/run_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "loadtest/load_run.h"

namespace fsr::load {
namespace {

using nlohmann::json;

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string escape_html(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

struct Series {
  std::string name, color;
  std::vector<double> values;
};

// A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten.
double nice_ceiling(double v) {
  if (v <= 0) return 1;
  double power = std::pow(10.0, std::floor(std::log10(v)));
  for (double step : {1.0, 2.0, 5.0, 10.0})
    if (v <= step * power) return step * power;
  return 10 * power;
}

std::string number_label(double v) {
  if (v >= 1e6) return fixed(v / 1e6, v >= 1e7 ? 0 : 1) + "M";
  if (v >= 1e4) return fixed(v / 1e3, 0) + "k";
  if (v >= 100 || v == std::floor(v)) return fixed(v, 0);
  return fixed(v, v >= 1 ? 1 : 2);
}

// A line chart of per-second series, x = seconds since the start.
std::string svg_chart(const std::string& title, const std::string& unit, const std::vector<Series>& series,
                      bool log_scale) {
  const int width = 920, height = 290, left = 60, right = 20, top = 44, bottom = 36;
  const int plot_w = width - left - right, plot_h = height - top - bottom;
  size_t points = 0;
  double max_v = 0, min_positive = 1e300;
  for (const auto& s : series) {
    points = std::max(points, s.values.size());
    for (double v : s.values) {
      max_v = std::max(max_v, v);
      if (v > 0) min_positive = std::min(min_positive, v);
    }
  }
  double x_max = std::max<double>(1, static_cast<double>(points));
  double y_top = nice_ceiling(max_v), y_bottom = 0;
  if (log_scale) {
    y_bottom = min_positive < 1e300 ? std::pow(10.0, std::floor(std::log10(min_positive))) : 0.1;
    y_top = std::pow(10.0, std::ceil(std::log10(std::max(max_v, y_bottom * 10))));
  }
  auto y_of = [&](double v) {
    double f;
    if (log_scale) {
      v = std::max(v, y_bottom);
      f = (std::log10(v) - std::log10(y_bottom)) / (std::log10(y_top) - std::log10(y_bottom));
    } else {
      f = v / y_top;
    }
    return top + plot_h - f * plot_h;
  };
  auto x_of = [&](double t) { return left + t / x_max * plot_w; };

  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
      << "' viewBox='0 0 " << width << " " << height << "' role='img'>\n";
  svg << "<text x='" << left << "' y='16' class='title'>" << escape_html(title) << "</text>\n";
  // Horizontal grid and labels.
  std::vector<double> ticks;
  if (log_scale) {
    for (double v = y_bottom; v <= y_top * 1.0001; v *= 10) ticks.push_back(v);
  } else {
    for (int i = 0; i <= 4; ++i) ticks.push_back(y_top * i / 4);
  }
  for (double v : ticks) {
    double y = y_of(v);
    svg << "<line x1='" << left << "' x2='" << left + plot_w << "' y1='" << fixed(y, 1) << "' y2='" << fixed(y, 1)
        << "' class='grid'/><text x='" << left - 6 << "' y='" << fixed(y + 4, 1) << "' class='ylabel'>"
        << number_label(v) << "</text>\n";
  }
  // Time axis.
  double x_step = nice_ceiling(x_max / 8);
  for (double t = 0; t <= x_max + 1e-9; t += x_step)
    svg << "<text x='" << fixed(x_of(t), 1) << "' y='" << top + plot_h + 16 << "' class='xlabel'>"
        << number_label(t) << "s</text>\n";
  svg << "<text x='" << left + plot_w << "' y='" << height - 4 << "' class='xlabel end'>seconds since start; y: "
      << escape_html(unit) << (log_scale ? " (log scale)" : "") << "</text>\n";
  svg << "<rect x='" << left << "' y='" << top << "' width='" << plot_w << "' height='" << plot_h
      << "' class='frame'/>\n";
  for (const auto& s : series) {
    if (s.values.empty()) continue;
    svg << "<polyline fill='none' stroke='" << s.color << "' stroke-width='1.6' points='";
    for (size_t i = 0; i < s.values.size(); ++i)
      svg << fixed(x_of(static_cast<double>(i) + 0.5), 1) << "," << fixed(y_of(s.values[i]), 1) << " ";
    svg << "'/>\n";
  }
  // Legend.
  int lx = left;
  for (const auto& s : series) {
    svg << "<rect x='" << lx << "' y='26' width='12' height='4' fill='" << s.color << "'/><text x='" << lx + 16
        << "' y='32' class='legend'>" << escape_html(s.name) << "</text>\n";
    lx += 26 + static_cast<int>(s.name.size()) * 7;
  }
  svg << "</svg>\n";
  return svg.str();
}

std::vector<double> column(const json& timeline, const char* key) {
  std::vector<double> out;
  for (const auto& row : timeline) out.push_back(row.value(key, 0.0));
  return out;
}

std::vector<double> sum_columns(const json& timeline, std::initializer_list<const char*> keys) {
  std::vector<double> out;
  for (const auto& row : timeline) {
    double v = 0;
    for (const char* k : keys) v += row.value(k, 0.0);
    out.push_back(v);
  }
  return out;
}

}  // namespace

const char* run_exit_meaning(int exit_code) {
  switch (exit_code) {
    case kExitClean:
      return "clean";
    case kExitInternalError:
      return "internal error";
    case kExitUsage:
      return "usage error";
    case kExitInvalidData:
      return "invalid data: a read returned something other than an acknowledged state";
    case kExitErrorAnswers:
      return "the server answered 429 or 5XX";
    case kExitFailureBudget:
      return "the failure budget (--max-failures) ended the run";
    case kExitRequestErrors:
      return "timeouts, connection errors or unexpected statuses";
  }
  return "unknown";
}

void print_run_summary(const json& r, std::ostream& out) {
  const json& t = r["totals"];
  const json& req = r["requests"];
  const json& checks = r["checks"];
  const json& tp = r["throughput"];
  const json& score = r["score"];
  out << "fsload run   " << r["url"].get<std::string>() << "\n";
  out << "schedule     " << r["schedule"].get<std::string>() << ", " << fixed(r["duration_s"].get<double>(), 1)
      << " s; ended by " << r["ended_by"].get<std::string>() << " after " << fixed(r["elapsed_s"].get<double>(), 1)
      << " s (" << fixed(r["wall_s"].get<double>(), 1) << " s with the drain)\n";
  out << "requests     scheduled " << req["scheduled"] << "  issued " << req["issued"] << "  completed "
      << req["completed"] << "  abandoned " << req["abandoned"] << "  max in flight " << req["max_in_flight"] << "\n";
  out << "answers      2xx " << t["status_2xx"] << "  4xx " << t["status_4xx"] << " (404: " << t["status_404"]
      << ")  429 " << t["status_429"] << "  5xx " << t["status_5xx"] << "  3xx/other "
      << t["status_3xx"].get<uint64_t>() + t["status_other"].get<uint64_t>() << "\n";
  out << "errors       timeouts " << t["timeouts"] << "  connection " << t["connection_errors"]
      << "  unexpected status " << t["unexpected_status"] << "  (failures " << t["failures"]
      << ")  connections opened " << t["connections_opened"] << "\n";
  out << "data         verified reads " << t["verified_reads"] << "  INVALID " << t["invalid"] << "  checks "
      << checks["started"] << " started, " << checks["passed"] << " passed, " << checks["failed"] << " failed, "
      << checks["aborted"] << " aborted\n";
  out << "throughput   target " << fixed(tp["mean_target_per_s"].get<double>(), 1) << "/s  completed "
      << fixed(tp["mean_completed_per_s"].get<double>(), 1) << "/s  successful "
      << fixed(tp["mean_successful_per_s"].get<double>(), 1) << "/s  max successful " << tp["max_successful_per_s"]
      << "/s  client issue lag max " << fixed(tp["max_issue_lag_ms"].get<double>(), 1) << " ms\n\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-7s %9s %9s %9s %7s %7s %8s %8s %8s %8s %8s\n", "op", "issued", "completed",
                "ok", "fail", "invalid", "p50", "p90", "p99", "p99.9", "max");
  out << line;
  for (const char* op : {"GET", "PUT", "DELETE"}) {
    const json& o = r["ops"][op];
    const json& l = o["latency"];
    std::snprintf(line, sizeof line, "%-7s %9llu %9llu %9llu %7llu %7llu %8.1f %8.1f %8.1f %8.1f %8.1f\n", op,
                  o["issued"].get<unsigned long long>(), o["completed"].get<unsigned long long>(),
                  o["successful"].get<unsigned long long>(), o["failures"].get<unsigned long long>(),
                  o["invalid"].get<unsigned long long>(), l["p50_ms"].get<double>(), l["p90_ms"].get<double>(),
                  l["p99_ms"].get<double>(), l["p999_ms"].get<double>(), l["max_ms"].get<double>());
    out << line;
  }
  out << "(latency in ms, measured from each request's scheduled time)\n\n";
  out << "score        " << score["max_successful_per_s"] << " max ok/s x "
      << fixed(score["minutes_survived"].get<double>(), 2) << " min x "
      << fixed(score["consistency_rate"].get<double>(), 4) << " consistency x "
      << fixed(score["success_rate"].get<double>(), 4) << " success = " << fixed(score["score"].get<double>(), 1)
      << "\n";
  int code = r["exit_code"].get<int>();
  out << "exit         " << code << " (" << run_exit_meaning(code) << ")\n";
}

std::string run_report_html(const json& r) {
  const json& timeline = r["timeline"];
  std::ostringstream html;
  std::ostringstream summary;
  print_run_summary(r, summary);
  html << "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>fsload run report</title>\n"
       << "<style>body{font-family:sans-serif;margin:24px;color:#222}"
       << "pre{background:#f6f6f6;padding:12px;overflow-x:auto}"
       << "svg{display:block;margin:16px 0;background:#fff}"
       << ".title{font-size:15px;font-weight:bold}.legend{font-size:12px}"
       << ".ylabel{font-size:11px;text-anchor:end}.xlabel{font-size:11px;text-anchor:middle}"
       << ".end{text-anchor:end}.grid{stroke:#e4e4e4}.frame{fill:none;stroke:#999}"
       << "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
       << "</style></head><body>\n";
  html << "<h1>fsload run report</h1>\n<pre>" << escape_html(summary.str()) << "</pre>\n";
  html << svg_chart("Throughput vs target", "requests per second",
                    {{"target", "#888888", column(timeline, "target")},
                     {"completed", "#1f77b4", column(timeline, "completed")},
                     {"successful", "#2ca02c", column(timeline, "successful")}},
                    false);
  html << svg_chart("Failures by kind", "requests per second",
                    {{"429", "#ff7f0e", column(timeline, "status_429")},
                     {"5xx", "#d62728", column(timeline, "status_5xx")},
                     {"timeouts", "#9467bd", column(timeline, "timeouts")},
                     {"connection errors", "#8c564b", column(timeline, "connection_errors")},
                     {"unexpected status", "#e377c2", column(timeline, "unexpected_status")},
                     {"invalid data", "#000000", column(timeline, "invalid")}},
                    false);
  html << svg_chart("Latency percentiles (from scheduled time)", "milliseconds",
                    {{"p50", "#2ca02c", column(timeline, "p50_ms")},
                     {"p90", "#1f77b4", column(timeline, "p90_ms")},
                     {"p99", "#d62728", column(timeline, "p99_ms")},
                     {"max", "#aaaaaa", column(timeline, "max_ms")}},
                    true);
  html << svg_chart("Requests in flight", "requests",
                    {{"in flight", "#1f77b4", column(timeline, "in_flight")},
                     {"failures", "#d62728",
                      sum_columns(timeline, {"status_429", "status_5xx", "timeouts", "connection_errors"})}},
                    false);
  if (!r["invalid_examples"].empty()) {
    html << "<h2>Invalid reads (first ones)</h2><table><tr><th>t (s)</th><th>name</th><th>observed</th>"
         << "<th>expected</th></tr>\n";
    for (const auto& e : r["invalid_examples"])
      html << "<tr><td>" << e["t"] << "</td><td>" << escape_html(e["name"].get<std::string>()) << "</td><td>"
           << escape_html(e["observed"].get<std::string>()) << "</td><td>"
           << escape_html(e["expected"].get<std::string>()) << "</td></tr>\n";
    html << "</table>\n";
  }
  json without_timeline = r;
  without_timeline.erase("timeline");
  html << "<details><summary>Result document (without timeline)</summary><pre>"
       << escape_html(without_timeline.dump(2)) << "</pre></details>\n</body></html>\n";
  return html.str();
}

bool write_text_file(const std::string& path, const std::string& text) {
  std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) {
      std::cerr << "fsload: cannot write " << temp << "\n";
      return false;
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    std::cerr << "fsload: cannot rename " << temp << " to " << path << "\n";
    return false;
  }
  return true;
}

}  // namespace fsr::load
