using FedMM.Learning.Pairing;

namespace FedMM.Learning.Tests.Pairing;

[Trait("Category", "Unit")]
public class HungarianAlgorithmTests
{
    private static double BruteForceMinimum(double[,] cost)
    {
        int rows = cost.GetLength(0), columns = cost.GetLength(1);
        bool transpose = rows > columns;
        int small = transpose ? columns : rows, large = transpose ? rows : columns;
        double At(int s, int l) => transpose ? cost[l, s] : cost[s, l];
        var used = new bool[large];
        double best = double.PositiveInfinity;
        void Search(int s, double sum)
        {
            if (s == small) { best = Math.Min(best, sum); return; }
            for (int l = 0; l < large; l++)
            {
                if (used[l]) continue;
                used[l] = true;
                Search(s + 1, sum + At(s, l));
                used[l] = false;
            }
        }
        Search(0, 0);
        return small == 0 ? 0 : best;
    }

    private static void AssertValid(double[,] cost, Assignment a)
    {
        int rows = cost.GetLength(0), columns = cost.GetLength(1);
        Assert.Equal(Math.Min(rows, columns), a.Count);
        Assert.Equal(a.Count, a.Rows.Distinct().Count());
        Assert.Equal(a.Count, a.Columns.Distinct().Count());
        Assert.All(a.Rows, r => Assert.InRange(r, 0, rows - 1));
        Assert.All(a.Columns, c => Assert.InRange(c, 0, columns - 1));
        Assert.Equal(a.Rows.Order(), a.Rows);
        double sum = 0;
        for (int p = 0; p < a.Count; p++) sum += cost[a.Rows[p], a.Columns[p]];
        Assert.Equal(sum, a.TotalCost, 12);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EqualsBruteForceOnRandomMatrices(bool smallIntegers)
    {
        var random = new Random(smallIntegers ? 7 : 11);
        int checkedMatrices = 0;
        for (int rows = 1; rows <= 8; rows++)
        {
            for (int columns = 1; columns <= 8; columns++)
            {
                int repeats = Math.Max(rows, columns) == 8 ? 3 : 8;
                for (int k = 0; k < repeats; k++)
                {
                    var cost = new double[rows, columns];
                    for (int i = 0; i < rows; i++)
                        for (int j = 0; j < columns; j++)
                            cost[i, j] = smallIntegers ? random.Next(0, 4) : random.NextDouble() * 20 - 5;
                    var result = HungarianAlgorithm.Solve(cost);
                    AssertValid(cost, result);
                    Assert.Equal(BruteForceMinimum(cost), result.TotalCost, 9);
                    checkedMatrices++;
                }
            }
        }
        Assert.True(checkedMatrices > 400);
    }

    [Fact]
    public void KnownThreeByThree()
    {
        // SciPy's documented example: rows 0,1,2 -> columns 1,0,2, total 5.
        var cost = new double[,] { { 4, 1, 3 }, { 2, 0, 5 }, { 3, 2, 2 } };
        var a = HungarianAlgorithm.Solve(cost);
        Assert.Equal(new[] { 0, 1, 2 }, a.Rows);
        Assert.Equal(new[] { 1, 0, 2 }, a.Columns);
        Assert.Equal(5, a.TotalCost);
    }

    [Fact]
    public void AllEqualCostsGiveAPermutation()
    {
        var cost = new double[5, 5];
        for (int i = 0; i < 5; i++) for (int j = 0; j < 5; j++) cost[i, j] = 2.5;
        var a = HungarianAlgorithm.Solve(cost);
        AssertValid(cost, a);
        Assert.Equal(12.5, a.TotalCost);
    }

    [Fact]
    public void TiesAreBrokenDeterministically()
    {
        var cost = new double[,] { { 1, 1, 0 }, { 1, 1, 0 }, { 0, 0, 1 } };
        var first = HungarianAlgorithm.Solve(cost);
        var second = HungarianAlgorithm.Solve(cost);
        Assert.Equal(1, first.TotalCost);
        Assert.Equal(first.Columns, second.Columns);
    }

    [Fact]
    public void SingleRowTakesTheCheapestColumn()
    {
        var a = HungarianAlgorithm.Solve(new double[,] { { 5, 3, -1, 4 } });
        Assert.Equal(new[] { 0 }, a.Rows);
        Assert.Equal(new[] { 2 }, a.Columns);
        Assert.Equal(-1, a.TotalCost);
    }

    [Fact]
    public void SingleColumnTakesTheCheapestRow()
    {
        var a = HungarianAlgorithm.Solve(new double[,] { { 5 }, { 3 }, { 7 }, { 2.5 } });
        Assert.Equal(new[] { 3 }, a.Rows);
        Assert.Equal(new[] { 0 }, a.Columns);
    }

    [Fact]
    public void TallMatrixPairsAreOrderedByRow()
    {
        var cost = new double[,] { { 9, 9 }, { 0, 9 }, { 9, 9 }, { 9, 0 } };
        var a = HungarianAlgorithm.Solve(cost);
        Assert.Equal(new[] { 1, 3 }, a.Rows);
        Assert.Equal(new[] { 0, 1 }, a.Columns);
        Assert.Equal(0, a.TotalCost);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(0, 3)]
    [InlineData(3, 0)]
    public void EmptyMatricesGiveNoPairs(int rows, int columns)
    {
        var a = HungarianAlgorithm.Solve(new double[rows, columns]);
        Assert.Equal(0, a.Count);
        Assert.Equal(0, a.TotalCost);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void NonFiniteCostsAreRefusedNamingTheCell(double bad)
    {
        var cost = new double[,] { { 1, 2 }, { 3, bad } };
        var e = Assert.Throws<ArgumentException>(() => HungarianAlgorithm.Solve(cost));
        Assert.Contains("[1, 1]", e.Message);
    }

    [Fact]
    public void FlatInputMustMatchTheDeclaredShape()
    {
        var e = Assert.Throws<ArgumentException>(() => HungarianAlgorithm.Solve(new double[5], 2, 3));
        Assert.Contains("2 × 3", e.Message);
    }

    [Fact]
    public void LargeRandomSquareIsAValidOptimumAgainstItsDual()
    {
        // For larger n brute force is impossible; check optimality against a lower bound that any
        // assignment must meet: sum of row minima (weak) and that swapping any two pairs never helps.
        var random = new Random(3);
        int n = 60;
        var cost = new double[n, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) cost[i, j] = random.NextDouble();
        var a = HungarianAlgorithm.Solve(cost);
        AssertValid(cost, a);
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++)
                Assert.True(cost[a.Rows[p], a.Columns[p]] + cost[a.Rows[q], a.Columns[q]]
                    <= cost[a.Rows[p], a.Columns[q]] + cost[a.Rows[q], a.Columns[p]] + 1e-12);
    }
}
