namespace FedMM.Learning.Pairing;

/// <summary>
/// Exact minimum-cost bipartite assignment (rectangular allowed) by shortest augmenting paths
/// with dual potentials, O(n²·m): the Jonker–Volgenant variant described by Crouse (2016) that
/// SciPy's <c>linear_sum_assignment</c> uses, including its tie rule and result order.
/// </summary>
public static class HungarianAlgorithm
{
    /// <summary>Solves for a [rows, columns] cost matrix.</summary>
    /// <exception cref="ArgumentException">A cost is NaN or infinite.</exception>
    public static Assignment Solve(double[,] cost)
    {
        ArgumentNullException.ThrowIfNull(cost);
        int rows = cost.GetLength(0), columns = cost.GetLength(1);
        var flat = new double[rows * columns];
        Buffer.BlockCopy(cost, 0, flat, 0, flat.Length * sizeof(double));
        return Solve(flat, rows, columns);
    }

    /// <summary>Solves for a row-major cost matrix of <paramref name="rows"/> × <paramref name="columns"/>.</summary>
    /// <exception cref="ArgumentException">The length does not match, or a cost is NaN or infinite.</exception>
    public static Assignment Solve(ReadOnlySpan<double> cost, int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        if (cost.Length != (long)rows * columns)
            throw new ArgumentException($"The cost matrix has {cost.Length} values but {rows} × {columns} = {(long)rows * columns} were declared.", nameof(cost));
        for (int k = 0; k < cost.Length; k++)
        {
            if (!double.IsFinite(cost[k]))
                throw new ArgumentException($"Cost [{k / columns}, {k % columns}] is {cost[k]}; every cost must be finite.", nameof(cost));
        }
        if (rows == 0 || columns == 0) return new Assignment([], [], 0);

        // The solver needs rows <= columns; solve the transpose otherwise.
        bool transpose = columns < rows;
        int nr = transpose ? columns : rows, nc = transpose ? rows : columns;
        var c = new double[nr * nc];
        if (transpose)
        {
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < columns; j++)
                    c[j * nc + i] = cost[i * columns + j];
        }
        else
        {
            cost.CopyTo(c);
        }

        var col4row = SolveRowsNotMoreThanColumns(c, nr, nc);

        var resultRows = new int[nr];
        var resultColumns = new int[nr];
        if (transpose)
        {
            // Pairs ordered by the original row index, which is the solver's column.
            var order = new int[nr];
            for (int i = 0; i < nr; i++) order[i] = i;
            Array.Sort(col4row.ToArray(), order);
            for (int p = 0; p < nr; p++)
            {
                resultRows[p] = col4row[order[p]];
                resultColumns[p] = order[p];
            }
        }
        else
        {
            for (int i = 0; i < nr; i++)
            {
                resultRows[i] = i;
                resultColumns[i] = col4row[i];
            }
        }
        double total = 0;
        for (int p = 0; p < nr; p++) total += cost[resultRows[p] * columns + resultColumns[p]];
        return new Assignment(resultRows, resultColumns, total);
    }

    private static int[] SolveRowsNotMoreThanColumns(double[] cost, int nr, int nc)
    {
        var u = new double[nr];
        var v = new double[nc];
        var shortestPathCosts = new double[nc];
        var path = new int[nc];
        var col4row = new int[nr];
        var row4col = new int[nc];
        var rowVisited = new bool[nr];
        var columnVisited = new bool[nc];
        var remaining = new int[nc];
        Array.Fill(path, -1);
        Array.Fill(col4row, -1);
        Array.Fill(row4col, -1);

        for (int currentRow = 0; currentRow < nr; currentRow++)
        {
            int sink = AugmentingPath(cost, nc, u, v, path, row4col, shortestPathCosts, currentRow, rowVisited, columnVisited, remaining, out double minVal);

            u[currentRow] += minVal;
            for (int i = 0; i < nr; i++)
            {
                if (rowVisited[i] && i != currentRow) u[i] += minVal - shortestPathCosts[col4row[i]];
            }
            for (int j = 0; j < nc; j++)
            {
                if (columnVisited[j]) v[j] -= minVal - shortestPathCosts[j];
            }

            int column = sink;
            while (true)
            {
                int row = path[column];
                row4col[column] = row;
                (col4row[row], column) = (column, col4row[row]);
                if (row == currentRow) break;
            }
        }
        return col4row;
    }

    private static int AugmentingPath(
        double[] cost, int nc, double[] u, double[] v, int[] path, int[] row4col, double[] shortestPathCosts,
        int row, bool[] rowVisited, bool[] columnVisited, int[] remaining, out double minVal)
    {
        minVal = 0;
        int remainingCount = nc;
        // Reverse order, as SciPy, so ties resolve to the same columns.
        for (int it = 0; it < nc; it++) remaining[it] = nc - it - 1;
        Array.Clear(rowVisited);
        Array.Clear(columnVisited);
        Array.Fill(shortestPathCosts, double.PositiveInfinity);

        int sink = -1;
        while (sink == -1)
        {
            rowVisited[row] = true;
            (int index, double lowest) = ScanRow(cost, row * nc, minVal - u[row], v, path, row4col, shortestPathCosts, remaining, remainingCount, row);
            minVal = lowest;
            // Finite costs always leave a feasible completion; this guards against a logic error.
            if (double.IsPositiveInfinity(minVal)) throw new InvalidOperationException("No augmenting path exists; the cost matrix is infeasible.");
            int column = remaining[index];
            if (row4col[column] == -1) sink = column;
            else row = row4col[column];
            columnVisited[column] = true;
            remaining[index] = remaining[--remainingCount];
        }
        return sink;
    }

    // The O(n) inner loop of every augmentation step; pointer access keeps it free of bounds checks.
    private static unsafe (int Index, double Lowest) ScanRow(
        double[] cost, int rowStart, double offset, double[] v, int[] path, int[] row4col,
        double[] shortestPathCosts, int[] remaining, int remainingCount, int row)
    {
        int index = -1;
        double lowest = double.PositiveInfinity;
        fixed (double* costRow = &cost[rowStart], vp = v, spc = shortestPathCosts)
        fixed (int* pathp = path, r4c = row4col, rem = remaining)
        {
            for (int it = 0; it < remainingCount; it++)
            {
                int j = rem[it];
                double r = offset + costRow[j] - vp[j];
                double s = spc[j];
                if (r < s)
                {
                    pathp[j] = row;
                    spc[j] = r;
                    s = r;
                }
                // Among equal lowest costs prefer a free column: it ends the search (matters with integer costs).
                if (s < lowest || (s == lowest && r4c[j] == -1))
                {
                    lowest = s;
                    index = it;
                }
            }
        }
        return (index, lowest);
    }
}
