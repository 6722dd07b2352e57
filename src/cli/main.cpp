// The `kiln` command: run, inspect and bench models. Thin: everything is in the library.
#include <CLI/CLI.hpp>

#include <omp.h>

#include <cstdio>
#include <iostream>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"kiln: prepare a CNN once, keep it hot, run it fast on the CPU"};
  app.require_subcommand(1);
  kiln::cli::RunArgs run;
  kiln::cli::InspectArgs inspect;
  kiln::cli::BenchArgs bench;
  kiln::cli::PackArgs pack;
  kiln::cli::QuantizeArgs quantize;
  kiln::cli::GenDefectsArgs gen;
  kiln::cli::DemoArgs demo;
  kiln::cli::add_run(app, run);
  kiln::cli::add_inspect(app, inspect);
  kiln::cli::add_bench(app, bench);
  kiln::cli::add_pack(app, pack);
  kiln::cli::add_quantize(app, quantize);
  kiln::cli::add_gen_defects(app, gen);
  kiln::cli::add_demo(app, demo);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (app.got_subcommand("run")) return kiln::cli::do_run(run);
  if (app.got_subcommand("inspect")) return kiln::cli::do_inspect(inspect);
  if (app.got_subcommand("bench")) return kiln::cli::do_bench(bench);
  if (app.got_subcommand("pack")) return kiln::cli::do_pack(pack);
  if (app.got_subcommand("quantize")) return kiln::cli::do_quantize(quantize);
  if (app.got_subcommand("gen-defects")) return kiln::cli::do_gen_defects(gen);
  if (app.got_subcommand("demo")) return kiln::cli::do_demo(demo);
  return 2;
}
