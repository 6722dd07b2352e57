// The `kiln` command: run, inspect and bench models. Thin: everything is in the library.
#include <CLI/CLI.hpp>

#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <iostream>

#include "cli/commands.h"
#include "kiln/engine.h"

int main(int argc, char** argv) {
  kiln::cli::apply_default_wait_policy(argv);
  // Measured timings of the computations a plan chooses among, kept per CPU (kiln/engine.h).
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) kiln::set_timing_cache_dir(std::string(xdg) + "/kiln");
  else if (const char* home = std::getenv("HOME"); home && *home) kiln::set_timing_cache_dir(std::string(home) + "/.cache/kiln");
  CLI::App app{"kiln: prepare a CNN once, keep it hot, run it fast on the CPU"};
  app.require_subcommand(1);
  kiln::cli::RunArgs run;
  kiln::cli::InspectArgs inspect;
  kiln::cli::BenchArgs bench;
  kiln::cli::PackArgs pack;
  kiln::cli::QuantizeArgs quantize;
  kiln::cli::GenDefectsArgs gen;
  kiln::cli::DemoArgs demo;
  kiln::cli::ServeArgs serve;
  kiln::cli::add_run(app, run);
  kiln::cli::add_inspect(app, inspect);
  kiln::cli::add_bench(app, bench);
  kiln::cli::add_pack(app, pack);
  kiln::cli::add_quantize(app, quantize);
  kiln::cli::add_gen_defects(app, gen);
  kiln::cli::add_demo(app, demo);
  kiln::cli::add_serve(app, serve);
  if (argc > 1 && argv[1][0] != '-') {  // name the unknown command rather than "a subcommand is required"
    std::string known;
    bool found = false;
    for (const CLI::App* c : app.get_subcommands({})) {
      found = found || c->get_name() == argv[1];
      known += (known.empty() ? "" : ", ") + c->get_name();
    }
    if (!found) {
      std::cerr << "kiln: unknown command '" << argv[1] << "' (commands: " << known << "; kiln --help)\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are successes; every other parse error is a usage error: exit 2,
    // as the README says (CLI11's own codes are 100 and up).
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (app.got_subcommand("run")) return kiln::cli::do_run(run);
  if (app.got_subcommand("inspect")) return kiln::cli::do_inspect(inspect);
  if (app.got_subcommand("bench")) return kiln::cli::do_bench(bench);
  if (app.got_subcommand("pack")) return kiln::cli::do_pack(pack);
  if (app.got_subcommand("quantize")) return kiln::cli::do_quantize(quantize);
  if (app.got_subcommand("gen-defects")) return kiln::cli::do_gen_defects(gen);
  if (app.got_subcommand("demo")) return kiln::cli::do_demo(demo);
  if (app.got_subcommand("serve")) return kiln::cli::do_serve(serve);
  return 2;
}
