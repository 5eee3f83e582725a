#include "policy/linear_program.h"

#include <glpk.h>

#include <memory>

#include "runtime/base/common.h"

namespace alisa {
namespace {

// A few variables and rows never need more simplex iterations than this.
constexpr int kIterationLimit = 20000;

}  // namespace

int LinearProgram::add_column(double lower, double upper, double cost) {
  ALISA_ASSERT(lower <= upper, "column bounds ", lower, " > ", upper);
  columns_.push_back({lower, upper, cost});
  return static_cast<int>(columns_.size()) - 1;
}

void LinearProgram::set_cost(int column, double cost) {
  ALISA_ASSERT(column >= 0 && column < static_cast<int>(columns_.size()), "no column ", column);
  columns_[static_cast<size_t>(column)].cost = cost;
}

double LinearProgram::objective(const std::vector<double>& x) const {
  ALISA_ASSERT(x.size() == columns_.size(), "x has ", x.size(), " values for ", columns_.size(),
               " columns");
  double total = 0;
  for (size_t j = 0; j < x.size(); ++j) total += columns_[j].cost * x[j];
  return total;
}

void LinearProgram::add_row(std::vector<std::pair<int, double>> terms, double upper) {
  for (const auto& [column, coefficient] : terms) {
    ALISA_ASSERT(column >= 0 && column < static_cast<int>(columns_.size()), "row names column ",
                 column, " of ", columns_.size());
    (void)coefficient;
  }
  rows_.push_back({std::move(terms), upper});
}

std::optional<std::vector<double>> LinearProgram::minimise() const {
  glp_term_out(GLP_OFF);  // GLPK prints to stdout by default
  std::unique_ptr<glp_prob, decltype(&glp_delete_prob)> lp(glp_create_prob(), glp_delete_prob);
  glp_set_obj_dir(lp.get(), GLP_MIN);
  const int n_columns = static_cast<int>(columns_.size());
  const int n_rows = static_cast<int>(rows_.size());
  if (n_columns > 0) glp_add_cols(lp.get(), n_columns);
  if (n_rows > 0) glp_add_rows(lp.get(), n_rows);
  for (int j = 0; j < n_columns; ++j) {
    const Column& c = columns_[static_cast<size_t>(j)];
    glp_set_col_bnds(lp.get(), j + 1, c.lower == c.upper ? GLP_FX : GLP_DB, c.lower, c.upper);
    glp_set_obj_coef(lp.get(), j + 1, c.cost);
  }
  // GLPK's sparse matrix is 1-based, entry 0 unused.
  std::vector<int> ia{0}, ja{0};
  std::vector<double> ar{0};
  for (int i = 0; i < n_rows; ++i) {
    const Row& row = rows_[static_cast<size_t>(i)];
    glp_set_row_bnds(lp.get(), i + 1, GLP_UP, 0.0, row.upper);
    for (const auto& [column, coefficient] : row.terms) {
      ia.push_back(i + 1);
      ja.push_back(column + 1);
      ar.push_back(coefficient);
    }
  }
  glp_load_matrix(lp.get(), static_cast<int>(ar.size()) - 1, ia.data(), ja.data(), ar.data());
  glp_scale_prob(lp.get(), GLP_SF_AUTO);
  glp_smcp parameters;
  glp_init_smcp(&parameters);
  parameters.msg_lev = GLP_MSG_OFF;
  parameters.presolve = GLP_ON;  // reports infeasibility instead of failing on it
  // A degenerate program can make one simplex cycle: a few variables and rows never need many
  // iterations, so past the limit the other method takes over.
  parameters.it_lim = kIterationLimit;
  int failed = GLP_EITLIM;
  for (const int method : {GLP_DUALP, GLP_PRIMAL}) {
    parameters.meth = method;
    failed = glp_simplex(lp.get(), &parameters);
    if (failed != GLP_EITLIM) break;
  }
  ALISA_CHECK(failed != GLP_EITLIM, "the policy solver's linear program (", n_columns,
              " variables, ", n_rows, " rows) did not converge in ", kIterationLimit,
              " simplex iterations");
  if (failed == GLP_ENOPFS) return std::nullopt;  // presolve: no primal feasible solution
  ALISA_ASSERT(failed == 0 || failed == GLP_ENODFS, "GLPK simplex failed with code ", failed);
  const int status = glp_get_status(lp.get());
  if (status == GLP_NOFEAS || status == GLP_INFEAS || failed == GLP_ENODFS) return std::nullopt;
  ALISA_ASSERT(status == GLP_OPT, "GLPK simplex ended with status ", status);
  std::vector<double> x(static_cast<size_t>(n_columns));
  for (int j = 0; j < n_columns; ++j) x[static_cast<size_t>(j)] = glp_get_col_prim(lp.get(), j + 1);
  return x;
}

}  // namespace alisa
