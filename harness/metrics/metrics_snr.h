/* Signal-to-noise of additive encodings: the token embedding is the signal,
 * the position vector added to it the "noise" the model must see past.
 *
 *   SNR(p) = ||e_token|| / ||PE(p)||
 *
 * integer: ||PE(p)|| = p sqrt(d), so SNR(p) = ||e|| / (p sqrt(d)) falls
 * without bound; sinusoidal: ||PE(p)|| = sqrt(d/2), constant. */
#ifndef PB_METRICS_SNR_H
#define PB_METRICS_SNR_H

/* snr[p] for the n rows of table[n, w]; +inf where PE(p) = 0. */
void pb_metric_snr(const float *table, int n, int w, double e_norm, double *snr);

/* Mean row norm of a matrix (e.g. a model's token embeddings wte[V, d]). */
double pb_metric_mean_row_norm(const float *x, int n, int w);

#endif
