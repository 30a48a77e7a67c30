DROP TABLE monday_budgets;
