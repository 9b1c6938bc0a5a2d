/* RoPE's long-term decay (RoFormer, Su et al., section 3.4.3): the relative
 * upper bound of |q^T R(m-n) k| as the distance r = m - n grows,
 *
 *   bound(r) = (1 / (d/2)) sum_{j=1..d/2} |S_j|,
 *   S_j = sum_{i=0..j-1} exp(1i * r * theta_i),  theta_i = base^(-2i/d).
 *
 * bound(0) = (d/2 + 1) / 2; the bound decays (with oscillations) as r grows. */
#ifndef PB_METRICS_DECAY_H
#define PB_METRICS_DECAY_H

double pb_metric_decay_bound(int d, double base, double r);

#endif
