namespace FedMM.Learning.Pairing;

/// <summary>
/// A minimum-cost assignment: row <c>Rows[p]</c> is matched to column <c>Columns[p]</c>;
/// min(rows, columns) pairs, ordered by row as in SciPy's <c>linear_sum_assignment</c>.
/// </summary>
public sealed record Assignment(int[] Rows, int[] Columns, double TotalCost)
{
    /// <summary>Number of pairs.</summary>
    public int Count => Rows.Length;
}
