/* t_nosym.c - a shared object that is not a kvscreend plugin: no descriptor symbol. */
int t_nosym_answer(void);

int t_nosym_answer(void)
{
	return 42;
}
