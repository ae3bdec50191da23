namespace FedMM.Learning.Privacy;

/// <summary>
/// Scalar functions the Rényi-DP bounds need in log space, where the terms of the subsampled Gaussian
/// mechanism's moments span hundreds of orders of magnitude: log-sum, log-difference, log erfc and
/// the generalised binomial coefficient of a real order.
/// </summary>
internal static class LogSpace
{
    /// <summary>log(eˣ + eʸ) without overflow; −∞ stands for 0.</summary>
    public static double Add(double x, double y)
    {
        double low = Math.Min(x, y), high = Math.Max(x, y);
        if (double.IsNegativeInfinity(low)) return high;
        return high + Log1P(Math.Exp(low - high));
    }

    /// <summary>log(eˣ − eʸ) for x ≥ y; −∞ when they are equal.</summary>
    /// <exception cref="ArgumentException">x &lt; y: the difference would be negative.</exception>
    public static double Subtract(double x, double y)
    {
        if (x < y) throw new ArgumentException($"log-space subtraction needs x ≥ y (x = {x}, y = {y}).");
        if (double.IsNegativeInfinity(y)) return x;
        if (x == y) return double.NegativeInfinity;
        double d = x - y;
        // log(e^d − 1) = d + log(1 − e^−d): exact for large d, where e^d − 1 would overflow.
        return d > 30 ? x + LogOneMinusExp(-d) : Math.Log(ExpMinusOne(d)) + y;
    }

    /// <summary>log(erfc(x)) for every finite x, accurate also where erfc(x) underflows (x ≳ 27).</summary>
    public static double LogErfc(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        if (x < 2) return Math.Log(Erfc(x));
        // erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + (3/2)/(x + …)))): Lentz's continued fraction, fast for x ≥ 2.
        double tiny = 1e-300;
        double f = x, c = x, d = 0;
        for (int j = 1; j < 500; j++)
        {
            double a = j / 2.0;
            d = x + a * d;
            if (Math.Abs(d) < tiny) d = tiny;
            c = x + a / c;
            if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        return -x * x - 0.5 * Math.Log(Math.PI) - Math.Log(f);
    }

    /// <summary>erfc(x) = 1 − erf(x); for x ≥ 2 through <see cref="LogErfc"/>.</summary>
    public static double Erfc(double x)
    {
        if (x < 0) return 2 - Erfc(-x);
        if (x >= 2) return Math.Exp(LogErfc(x));
        // erf(x) = 2/√π Σ (−1)ⁿ x^(2n+1) / (n! (2n+1)): on [0, 2) the cancellation costs under 1e-14 absolute.
        double term = x, sum = x, x2 = x * x;
        for (int n = 1; n < 200; n++)
        {
            term *= -x2 / n;
            double next = term / (2 * n + 1);
            sum += next;
            if (Math.Abs(next) < 1e-17 * Math.Abs(sum)) break;
        }
        return 1 - 2 / Math.Sqrt(Math.PI) * sum;
    }

    /// <summary>The binomial coefficient C(α, i) of a real α ≥ 0 as (log |C|, sign).</summary>
    public static (double Log, int Sign) Binomial(double alpha, int i)
    {
        double log = 0;
        int sign = 1;
        for (int k = 1; k <= i; k++)
        {
            double factor = (alpha - k + 1) / k;
            if (factor == 0) return (double.NegativeInfinity, 0);
            if (factor < 0) sign = -sign;
            log += Math.Log(Math.Abs(factor));
        }
        return (log, sign);
    }

    private static double LogOneMinusExp(double x) => Log1P(-Math.Exp(x));

    // log(1 + x) without the cancellation of Math.Log(1 + x) for small x.
    private static double Log1P(double x)
    {
        double u = 1 + x;
        return u == 1 ? x : Math.Log(u) * x / (u - 1);
    }

    // eˣ − 1 without the cancellation of Math.Exp(x) − 1 for small x.
    private static double ExpMinusOne(double x)
    {
        if (Math.Abs(x) > 1e-5) return Math.Exp(x) - 1;
        return x + x * x / 2 + x * x * x / 6;
    }
}
