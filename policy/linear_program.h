// A small linear program solved by GLPK's simplex: minimise sum_j cost_j x_j subject to bounded
// columns and rows sum_j a_ij x_j <= upper_i. The solver's continuous placement lives here.
#pragma once

#include <optional>
#include <utility>
#include <vector>

namespace alisa {

class LinearProgram {
 public:
  // A column lower <= x <= upper with objective coefficient `cost`; returns its index.
  int add_column(double lower, double upper, double cost);
  void set_cost(int column, double cost);
  // sum of coefficient * x[column] over `terms` <= upper.
  void add_row(std::vector<std::pair<int, double>> terms, double upper);
  // sum of cost_j * x_j at x.
  double objective(const std::vector<double>& x) const;
  // The optimal x, or nothing when the program is infeasible. Throws alisa::InternalError when
  // GLPK fails otherwise (unbounded programs cannot arise: every column is bounded).
  std::optional<std::vector<double>> minimise() const;

 private:
  struct Column {
    double lower, upper, cost;
  };
  struct Row {
    std::vector<std::pair<int, double>> terms;
    double upper;
  };
  std::vector<Column> columns_;
  std::vector<Row> rows_;
};

}  // namespace alisa
