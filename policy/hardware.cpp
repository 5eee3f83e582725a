#include "policy/hardware.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <set>
#include <sstream>
#include <utility>

#include "runtime/base/common.h"
#include "runtime/base/yaml_reader.h"

namespace alisa {
namespace {

// --- validation -------------------------------------------------------------------------------

void check_rate(double value, const std::string& source, const std::string& key) {
  ALISA_CHECK(std::isfinite(value) && value > 0, source, ": '", key,
              "' must be a positive number, got ", value);
}

void check_count(int64_t value, const std::string& source, const std::string& key) {
  ALISA_CHECK(value > 0, source, ": '", key, "' must be a positive integer, got ", value);
}

void check_bytes(uint64_t value, const std::string& source, const std::string& key) {
  ALISA_CHECK(value > 0, source, ": '", key, "' must be a positive number of bytes, got 0");
}

void check_link(const LinkRate& rate, const std::string& source, const char* group,
                const char* direction) {
  check_rate(rate.alone_gbps, source, str(group, ".", direction, "_gbps"));
  check_rate(rate.duplex_gbps, source, str(group, ".", direction, "_duplex_gbps"));
}

// A table ascending by a count (`field`, a `what`): not empty, each entry's count positive and
// above the one before; `check_entry` checks the rest of each entry, named by its key
// ("cpu_attention[2]").
template <typename Entry, typename CheckEntry>
void check_table(const std::vector<Entry>& table, const std::string& source, const char* name,
                 const char* field, int64_t Entry::*count, const char* what,
                 const CheckEntry& check_entry) {
  ALISA_CHECK(!table.empty(), source, ": '", name, "' is empty (at least one ", what, ")");
  for (size_t i = 0; i < table.size(); ++i) {
    const Entry& entry = table[i];
    const std::string key = str(name, "[", i, "]");
    check_count(entry.*count, source, str(key, ".", field));
    check_entry(entry, key);
    ALISA_CHECK(i == 0 || entry.*count > table[i - 1].*count, source, ": '", key, ".", field,
                "' is ", entry.*count, ": ", what, "s must ascend (the one before is ",
                table[i - 1].*count, ")");
  }
}

// --- reading ----------------------------------------------------------------------------------

// A mapping of the profile, every key required and none repeated: the profile itself (path "")
// or one of its parts ("pinned", "gpu_gemm[2]").
void read_map(const YAML::Node& node, const std::string& source, const std::string& path,
              const YamlKeyReaders& readers) {
  const std::string what = path.empty() ? "the profile" : str("'", path, "'");
  read_yaml_mapping(node,
                    {.where = source,
                     .path = path,
                     .expected = str(what, " must be a mapping of ", yaml_key_list(readers)),
                     .called = what,
                     .all_required = true},
                    readers);
}

YamlKeyReader number(double& out) {
  return yaml_value(out, "a number");
}

YamlKeyReader integer(int64_t& out) {
  return yaml_value(out, "an integer");
}

YamlKeyReader text(std::string& out) {
  return yaml_value(out, "a string");
}

// Capacities are unsigned in the profile: a negative one is refused here, before the cast.
YamlKeyReader byte_count(uint64_t& out, const std::string& source) {
  return [&out, source](const YAML::Node& value, const YamlKey& key) {
    const int64_t n = yaml_scalar<int64_t>(value, key.where, "an integer");
    check_count(n, source, key.name);
    out = static_cast<uint64_t>(n);
  };
}

YamlKeyReader sub_map(const std::string& source, YamlKeyReaders readers) {
  return [source, readers = std::move(readers)](const YAML::Node& value, const YamlKey& key) {
    read_map(value, source, key.name, readers);
  };
}

template <typename Entry>
YamlKeyReader table(std::vector<Entry>& out, const std::string& source,
                    std::function<YamlKeyReaders(Entry&)> entry_readers) {
  return [&out, source, entry_readers](const YAML::Node& value, const YamlKey& key) {
    Entry probe;
    ALISA_CHECK(value.IsSequence(), source, ": '", key.name, "' must be a list of {",
                yaml_key_list(entry_readers(probe)), "}");
    out.clear();
    for (size_t i = 0; i < value.size(); ++i) {
      Entry entry;
      read_map(value[i], source, str(key.name, "[", i, "]"), entry_readers(entry));
      out.push_back(entry);
    }
  };
}

// --- writing ----------------------------------------------------------------------------------

// Rates to six significant digits: the rounding is far below the measurements' noise.
std::string number_text(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", value);
  return buffer;
}

// Quoted only where YAML needs it (names with ':' or '#', the empty string).
std::string string_text(const std::string& value) {
  YAML::Emitter out;
  out << value;
  return out.c_str();
}

// The (n, k) group of the nearest matrix: an exact match, else the least |log(n k) - log(n' k')|,
// ties to the first listed. Transposed shapes (up [d, f] and down [f, d]) have the same n k, so
// an exact match must win over an earlier tie.
std::pair<int64_t, int64_t> nearest_gemm_group(const std::vector<GemmRate>& gemm, int64_t n,
                                               int64_t k) {
  for (const GemmRate& g : gemm) {
    if (g.n == n && g.k == k) return {n, k};
  }
  const double target = std::log(static_cast<double>(n) * static_cast<double>(k));
  const GemmRate* best = &gemm.front();
  double best_distance = INFINITY;
  for (const GemmRate& g : gemm) {
    const double distance =
        std::abs(std::log(static_cast<double>(g.n) * static_cast<double>(g.k)) - target);
    if (distance < best_distance) {
      best_distance = distance;
      best = &g;
    }
  }
  return {best->n, best->k};
}

// Where x falls in a table ascending by key(entry): the entries on either side and the share of
// the way from the lower to the upper, linear in x or in log x; at or beyond an end, that end.
struct Bracket {
  size_t lower = 0, upper = 0;
  double f = 0;
  double mix(double a, double b) const { return a + f * (b - a); }
};

template <typename Entry, typename Key>
Bracket bracket(const std::vector<Entry>& table, int64_t x, Key key, bool log_scale) {
  if (x <= key(table.front())) return {};
  if (x >= key(table.back())) return {table.size() - 1, table.size() - 1, 0};
  const auto upper = std::upper_bound(
      table.begin(), table.end(), x, [&](int64_t value, const Entry& e) { return value < key(e); });
  const int64_t hi = key(*upper), lo = key(*(upper - 1));
  const double f = log_scale
                       ? (std::log(static_cast<double>(x)) - std::log(static_cast<double>(lo))) /
                             (std::log(static_cast<double>(hi)) - std::log(static_cast<double>(lo)))
                       : static_cast<double>(x - lo) / static_cast<double>(hi - lo);
  const auto index = static_cast<size_t>(upper - table.begin());
  return {index - 1, index, f};
}

// The attention rates of `table` (the profile's `key`, of `who`'s attention) at `x` entries
// (threads, batch): each rate of `rates` interpolated between the entries on either side.
template <typename Rate>
Rate interpolated(const HardwareProfile& p, const std::vector<Rate>& table, const char* key,
                  const char* who, int64_t x, int64_t Rate::*count, bool log_scale,
                  std::initializer_list<double Rate::*> rates) {
  ALISA_CHECK(!table.empty(), "hardware profile '", p.name, "' has no ", who, " attention rates ('",
              key, "' is empty)");
  const Bracket b = bracket(
      table, x, [count](const Rate& r) { return r.*count; }, log_scale);
  Rate out{};
  out.*count = x;
  for (double Rate::*rate : rates) out.*rate = b.mix(table[b.lower].*rate, table[b.upper].*rate);
  return out;
}

}  // namespace

void validate(const HardwareProfile& p, const std::string& source) {
  check_bytes(p.gpu_memory_bytes, source, "capacity.gpu_memory_bytes");
  check_bytes(p.cpu_memory_bytes, source, "capacity.cpu_memory_bytes");
  check_bytes(p.disk_bytes, source, "capacity.disk_bytes");
  check_count(p.cpu_cores, source, "capacity.cpu_cores");
  check_link(p.h2d_pinned, source, "pinned", "h2d");
  check_rate(p.h2d_pinned_cpu_busy_gbps, source, "pinned.h2d_cpu_busy_gbps");
  check_link(p.d2h_pinned, source, "pinned", "d2h");
  check_link(p.h2d_pageable, source, "pageable", "h2d");
  check_link(p.d2h_pageable, source, "pageable", "d2h");
  check_rate(p.mapped_read_gbps, source, "mapped.read_gbps");
  check_rate(p.mapped_write_gbps, source, "mapped.write_gbps");
  check_rate(p.disk_read_gbps, source, "disk.read_gbps");
  check_rate(p.disk_write_gbps, source, "disk.write_gbps");
  check_rate(p.disk_read_latency_us, source, "disk.read_latency_us");
  check_rate(p.disk_write_latency_us, source, "disk.write_latency_us");
  check_rate(p.gpu_memory_gbps, source, "memory.gpu_gbps");
  check_rate(p.cpu_memory_gbps, source, "memory.cpu_gbps");
  check_rate(p.gpu_launch_us, source, "gpu_launch_us");
  check_rate(p.unit.gpu_us, source, "unit_us.gpu");
  check_rate(p.unit.cpu_attention_us, source, "unit_us.cpu_attention");
  check_rate(p.unit.cache_load_us, source, "unit_us.cache_load");
  check_rate(p.unit.hidden_load_us, source, "unit_us.hidden_load");

  // gpu_gemm: each (n, k) one run of entries, m ascending within it (interpolation reads them so).
  ALISA_CHECK(!p.gemm.empty(), source, ": 'gpu_gemm' is empty (at least one measured GEMM)");
  std::set<std::pair<int64_t, int64_t>> groups_done;
  for (size_t i = 0; i < p.gemm.size(); ++i) {
    const GemmRate& g = p.gemm[i];
    const std::string key = str("gpu_gemm[", i, "]");
    check_count(g.m, source, key + ".m");
    check_count(g.n, source, key + ".n");
    check_count(g.k, source, key + ".k");
    check_rate(g.tflops, source, key + ".tflops");
    const bool continues = i > 0 && p.gemm[i - 1].n == g.n && p.gemm[i - 1].k == g.k;
    if (continues) {
      ALISA_CHECK(g.m > p.gemm[i - 1].m, source, ": '", key, ".m' is ", g.m,
                  ": within one (n, k) the m values must ascend (the one before is ",
                  p.gemm[i - 1].m, ")");
    } else {
      ALISA_CHECK(groups_done.insert({g.n, g.k}).second, source, ": '", key, "': (n, k) = (", g.n,
                  ", ", g.k,
                  ") appears apart from its other entries (list each shape's m together)");
    }
  }

  check_table(p.cpu_attention, source, "cpu_attention", "threads", &CpuAttentionRate::threads,
              "thread count", [&](const CpuAttentionRate& r, const std::string& key) {
                check_rate(r.dense_gbps, source, key + ".dense_gbps");
                check_rate(r.sparse_gbps, source, key + ".sparse_gbps");
              });

  check_rate(p.cpu_attention_h2d_busy.dense, source, "cpu_attention_h2d_busy.dense_share");
  check_rate(p.cpu_attention_h2d_busy.sparse, source, "cpu_attention_h2d_busy.sparse_share");

  check_table(p.gpu_attention, source, "gpu_attention", "batch", &GpuAttentionRate::batch,
              "batch size", [&](const GpuAttentionRate& r, const std::string& key) {
                check_rate(r.dense_gbps, source, key + ".dense_gbps");
                check_rate(r.sparse_gbps, source, key + ".sparse_gbps");
                check_rate(r.mapped_sparse_gbps, source, key + ".mapped_sparse_gbps");
              });
}

HardwareProfile hardware_from_yaml(const std::string& yaml_text, const std::string& source) {
  const YAML::Node root = parse_yaml(yaml_text, source);
  HardwareProfile p;
  const std::string& s = source;
  auto link = [&](const char* direction, LinkRate& rate) {
    return YamlKeyReaders{{str(direction, "_gbps"), number(rate.alone_gbps)},
                          {str(direction, "_duplex_gbps"), number(rate.duplex_gbps)}};
  };
  auto links = [&](LinkRate& h2d, LinkRate& d2h) {
    YamlKeyReaders readers = link("h2d", h2d);
    for (auto& reader : link("d2h", d2h)) readers.push_back(std::move(reader));
    return readers;
  };
  const YamlKeyReaders root_readers = {
      {"name", text(p.name)},
      {"measured", text(p.measured)},
      {"gpu", text(p.gpu)},
      {"cpu", text(p.cpu)},
      {"capacity", sub_map(s, {{"gpu_memory_bytes", byte_count(p.gpu_memory_bytes, s)},
                               {"cpu_memory_bytes", byte_count(p.cpu_memory_bytes, s)},
                               {"disk_bytes", byte_count(p.disk_bytes, s)},
                               {"cpu_cores", integer(p.cpu_cores)}})},
      {"pinned",
       sub_map(s,
               [&] {
                 YamlKeyReaders readers = links(p.h2d_pinned, p.d2h_pinned);
                 readers.push_back({"h2d_cpu_busy_gbps", number(p.h2d_pinned_cpu_busy_gbps)});
                 return readers;
               }())},
      {"pageable", sub_map(s, links(p.h2d_pageable, p.d2h_pageable))},
      {"mapped", sub_map(s, {{"read_gbps", number(p.mapped_read_gbps)},
                             {"write_gbps", number(p.mapped_write_gbps)}})},
      {"disk", sub_map(s, {{"read_gbps", number(p.disk_read_gbps)},
                           {"write_gbps", number(p.disk_write_gbps)},
                           {"read_latency_us", number(p.disk_read_latency_us)},
                           {"write_latency_us", number(p.disk_write_latency_us)}})},
      {"memory", sub_map(s, {{"gpu_gbps", number(p.gpu_memory_gbps)},
                             {"cpu_gbps", number(p.cpu_memory_gbps)}})},
      {"gpu_launch_us", number(p.gpu_launch_us)},
      {"unit_us", sub_map(s, {{"gpu", number(p.unit.gpu_us)},
                              {"cpu_attention", number(p.unit.cpu_attention_us)},
                              {"cache_load", number(p.unit.cache_load_us)},
                              {"hidden_load", number(p.unit.hidden_load_us)}})},
      {"gpu_gemm", table<GemmRate>(p.gemm, s,
                                   [](GemmRate& g) {
                                     return YamlKeyReaders{{"m", integer(g.m)},
                                                           {"n", integer(g.n)},
                                                           {"k", integer(g.k)},
                                                           {"tflops", number(g.tflops)}};
                                   })},
      {"cpu_attention", table<CpuAttentionRate>(p.cpu_attention, s,
                                                [](CpuAttentionRate& r) {
                                                  return YamlKeyReaders{
                                                      {"threads", integer(r.threads)},
                                                      {"dense_gbps", number(r.dense_gbps)},
                                                      {"sparse_gbps", number(r.sparse_gbps)}};
                                                })},
      {"cpu_attention_h2d_busy",
       sub_map(s, {{"dense_share", number(p.cpu_attention_h2d_busy.dense)},
                   {"sparse_share", number(p.cpu_attention_h2d_busy.sparse)}})},
      {"gpu_attention", table<GpuAttentionRate>(p.gpu_attention, s,
                                                [](GpuAttentionRate& r) {
                                                  return YamlKeyReaders{
                                                      {"batch", integer(r.batch)},
                                                      {"dense_gbps", number(r.dense_gbps)},
                                                      {"sparse_gbps", number(r.sparse_gbps)},
                                                      {"mapped_sparse_gbps",
                                                       number(r.mapped_sparse_gbps)}};
                                                })},
  };
  ALISA_CHECK(!root.IsNull(), source, ": empty (a hardware profile written by alisa calibrate)");
  read_map(root, source, "", root_readers);
  validate(p, source);
  return p;
}

HardwareProfile load_hardware(const std::filesystem::path& path) {
  return hardware_from_yaml(read_yaml_file(path, "hardware profile"), path.string());
}

std::string hardware_to_yaml(const HardwareProfile& p) {
  const auto n = number_text;
  std::ostringstream out;
  out << "# Hardware profile written by `alisa calibrate` (policy/hardware.h), read by the cost\n"
         "# model. Units: *_gbps in GB/s (1e9 bytes per second), tflops in TFLOP/s (1e12 flop\n"
         "# per second), *_bytes in bytes, gpu_launch_us, unit_us and *_latency_us in\n"
         "# microseconds.\n"
         "# memory.gpu_gbps counts a device-to-device copy's read and write once each;\n"
         "# cpu_attention and gpu_attention count the K and V bytes a decode step attends.\n"
         "# gpu_attention times the runtime's GPU kernels over the block runner's KV layout at "
         "512\n"
         "# cached tokens, per GPU batch size: dense reads every token, sparse (SWA) about 20% of\n"
         "# them, mapped_sparse the same from mapped pinned host memory.\n";
  out << "name: " << string_text(p.name) << "\n";
  out << "measured: " << string_text(p.measured) << "\n";
  out << "gpu: " << string_text(p.gpu) << "\n";
  out << "cpu: " << string_text(p.cpu) << "\n";
  out << "capacity: {gpu_memory_bytes: " << p.gpu_memory_bytes
      << ", cpu_memory_bytes: " << p.cpu_memory_bytes << ", disk_bytes: " << p.disk_bytes
      << ", cpu_cores: " << p.cpu_cores << "}\n";
  auto links = [&](const char* name, const LinkRate& h2d, const LinkRate& d2h,
                   const std::string& more) {
    out << name << ": {h2d_gbps: " << n(h2d.alone_gbps)
        << ", h2d_duplex_gbps: " << n(h2d.duplex_gbps) << ", d2h_gbps: " << n(d2h.alone_gbps)
        << ", d2h_duplex_gbps: " << n(d2h.duplex_gbps) << more << "}\n";
  };
  links("pinned", p.h2d_pinned, p.d2h_pinned,
        ", h2d_cpu_busy_gbps: " + n(p.h2d_pinned_cpu_busy_gbps));
  links("pageable", p.h2d_pageable, p.d2h_pageable, "");
  out << "mapped: {read_gbps: " << n(p.mapped_read_gbps)
      << ", write_gbps: " << n(p.mapped_write_gbps) << "}\n";
  out << "disk: {read_gbps: " << n(p.disk_read_gbps) << ", write_gbps: " << n(p.disk_write_gbps)
      << ", read_latency_us: " << n(p.disk_read_latency_us)
      << ", write_latency_us: " << n(p.disk_write_latency_us) << "}\n";
  out << "memory: {gpu_gbps: " << n(p.gpu_memory_gbps) << ", cpu_gbps: " << n(p.cpu_memory_gbps)
      << "}\n";
  out << "gpu_launch_us: " << n(p.gpu_launch_us) << "\n";
  out << "unit_us: {gpu: " << n(p.unit.gpu_us) << ", cpu_attention: " << n(p.unit.cpu_attention_us)
      << ", cache_load: " << n(p.unit.cache_load_us)
      << ", hidden_load: " << n(p.unit.hidden_load_us)
      << "}  # the block runner's floor per unit (layer x GPU batch)\n";
  out << "gpu_gemm:  # f16, cuBLAS: [m, k] x [k, n]\n";
  for (const GemmRate& g : p.gemm) {
    out << "  - {m: " << g.m << ", n: " << g.n << ", k: " << g.k << ", tflops: " << n(g.tflops)
        << "}\n";
  }
  out << "cpu_attention:  # float16 KV decode attention, GB of K and V read per second\n";
  for (const CpuAttentionRate& r : p.cpu_attention) {
    out << "  - {threads: " << r.threads << ", dense_gbps: " << n(r.dense_gbps)
        << ", sparse_gbps: " << n(r.sparse_gbps) << "}\n";
  }
  out << "cpu_attention_h2d_busy: {dense_share: " << n(p.cpu_attention_h2d_busy.dense)
      << ", sparse_share: " << n(p.cpu_attention_h2d_busy.sparse)
      << "}  # of the most threads' rates, while pinned H2D copies run\n";
  out << "gpu_attention:  # f16 KV decode attention on the GPU, GB of K and V read per second\n";
  for (const GpuAttentionRate& r : p.gpu_attention) {
    out << "  - {batch: " << r.batch << ", dense_gbps: " << n(r.dense_gbps)
        << ", sparse_gbps: " << n(r.sparse_gbps)
        << ", mapped_sparse_gbps: " << n(r.mapped_sparse_gbps) << "}\n";
  }
  return out.str();
}

double gemm_tflops(const HardwareProfile& p, int64_t m, int64_t n, int64_t k) {
  ALISA_CHECK(!p.gemm.empty(), "hardware profile '", p.name,
              "' has no GPU GEMM rates ('gpu_gemm' is empty)");
  ALISA_ASSERT(n > 0 && k > 0, "gemm_tflops of an empty matrix [", k, ", ", n, "]");
  const auto [group_n, group_k] = nearest_gemm_group(p.gemm, n, k);
  std::vector<std::pair<int64_t, double>> points;  // (m, tflops)
  for (const GemmRate& g : p.gemm) {
    if (g.n == group_n && g.k == group_k) points.emplace_back(g.m, g.tflops);
  }
  std::sort(points.begin(), points.end());
  const Bracket b = bracket(
      points, m, [](const auto& point) { return point.first; }, true);
  return b.mix(points[b.lower].second, points[b.upper].second);
}

CpuAttentionRate cpu_attention_rate(const HardwareProfile& p, int64_t threads) {
  ALISA_ASSERT(threads >= 0, "cpu_attention_rate of ", threads, " threads");
  return interpolated(p, p.cpu_attention, "cpu_attention", "CPU",
                      threads == 0 ? p.cpu_cores : threads, &CpuAttentionRate::threads, false,
                      {&CpuAttentionRate::dense_gbps, &CpuAttentionRate::sparse_gbps});
}

GpuAttentionRate gpu_attention_rate(const HardwareProfile& p, int64_t batch) {
  ALISA_ASSERT(batch > 0, "gpu_attention_rate of a batch of ", batch);
  return interpolated(p, p.gpu_attention, "gpu_attention", "GPU", batch, &GpuAttentionRate::batch,
                      true,
                      {&GpuAttentionRate::dense_gbps, &GpuAttentionRate::sparse_gbps,
                       &GpuAttentionRate::mapped_sparse_gbps});
}

}  // namespace alisa
