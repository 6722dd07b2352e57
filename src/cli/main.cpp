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
  kiln::cli::add_run(app, run);
  kiln::cli::add_inspect(app, inspect);
  kiln::cli::add_bench(app, bench);
  kiln::cli::add_pack(app, pack);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (app.got_subcommand("run")) return kiln::cli::do_run(run);
  if (app.got_subcommand("inspect")) return kiln::cli::do_inspect(inspect);
  if (app.got_subcommand("bench")) return kiln::cli::do_bench(bench);
  if (app.got_subcommand("pack")) return kiln::cli::do_pack(pack);
  return 2;
}
