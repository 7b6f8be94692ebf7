/* test_investment.c - placeholder. */
int main(void) { return 0; }
