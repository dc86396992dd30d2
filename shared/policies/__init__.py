"""Policy versions (privacy policy, terms), acceptances, the acceptance gate and change notices."""
