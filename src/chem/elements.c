/* Elements: symbols and standard atomic weights. See include/qf/mol.h. */
#include "qf/mol.h"

#include <ctype.h>
#include <stddef.h>

/* One row per element, index = Z. Weights are the IUPAC 2013 conventional
 * values (CIAAW, "Atomic weights of the elements 2013"); for elements without
 * stable isotopes, the mass number of the longest-lived isotope. RDKit's own
 * table is older (C 12.011 but Cl 35.453, Ge 72.61), so it is not used. */
static const struct {
	const char *symbol;
	double mass;
} elements[QF_MAX_Z + 1] = {
	{NULL, 0.0},
	{"H", 1.008},           {"He", 4.002602},      {"Li", 6.94},
	{"Be", 9.0121831},      {"B", 10.81},          {"C", 12.011},
	{"N", 14.007},          {"O", 15.999},         {"F", 18.998403163},
	{"Ne", 20.1797},        {"Na", 22.98976928},   {"Mg", 24.305},
	{"Al", 26.9815385},     {"Si", 28.085},        {"P", 30.973761998},
	{"S", 32.06},           {"Cl", 35.45},         {"Ar", 39.948},
	{"K", 39.0983},         {"Ca", 40.078},        {"Sc", 44.955908},
	{"Ti", 47.867},         {"V", 50.9415},        {"Cr", 51.9961},
	{"Mn", 54.938044},      {"Fe", 55.845},        {"Co", 58.933194},
	{"Ni", 58.6934},        {"Cu", 63.546},        {"Zn", 65.38},
	{"Ga", 69.723},         {"Ge", 72.630},        {"As", 74.921595},
	{"Se", 78.971},         {"Br", 79.904},        {"Kr", 83.798},
	{"Rb", 85.4678},        {"Sr", 87.62},         {"Y", 88.90584},
	{"Zr", 91.224},         {"Nb", 92.90637},      {"Mo", 95.95},
	{"Tc", 97.0},           {"Ru", 101.07},        {"Rh", 102.90550},
	{"Pd", 106.42},         {"Ag", 107.8682},      {"Cd", 112.414},
	{"In", 114.818},        {"Sn", 118.710},       {"Sb", 121.760},
	{"Te", 127.60},         {"I", 126.90447},      {"Xe", 131.293},
	{"Cs", 132.90545196},   {"Ba", 137.327},       {"La", 138.90547},
	{"Ce", 140.116},        {"Pr", 140.90766},     {"Nd", 144.242},
	{"Pm", 145.0},          {"Sm", 150.36},        {"Eu", 151.964},
	{"Gd", 157.25},         {"Tb", 158.92535},     {"Dy", 162.500},
	{"Ho", 164.93033},      {"Er", 167.259},       {"Tm", 168.93422},
	{"Yb", 173.054},        {"Lu", 174.9668},      {"Hf", 178.49},
	{"Ta", 180.94788},      {"W", 183.84},         {"Re", 186.207},
	{"Os", 190.23},         {"Ir", 192.217},       {"Pt", 195.084},
	{"Au", 196.966569},     {"Hg", 200.592},       {"Tl", 204.38},
	{"Pb", 207.2},          {"Bi", 208.98040},     {"Po", 209.0},
	{"At", 210.0},          {"Rn", 222.0},         {"Fr", 223.0},
	{"Ra", 226.0},          {"Ac", 227.0},         {"Th", 232.0377},
	{"Pa", 231.03588},      {"U", 238.02891},      {"Np", 237.0},
	{"Pu", 244.0},          {"Am", 243.0},         {"Cm", 247.0},
	{"Bk", 247.0},          {"Cf", 251.0},         {"Es", 252.0},
	{"Fm", 257.0},          {"Md", 258.0},         {"No", 259.0},
	{"Lr", 266.0},          {"Rf", 267.0},         {"Db", 268.0},
	{"Sg", 269.0},          {"Bh", 270.0},         {"Hs", 269.0},
	{"Mt", 278.0},          {"Ds", 281.0},         {"Rg", 282.0},
	{"Cn", 285.0},          {"Nh", 286.0},         {"Fl", 289.0},
	{"Mc", 290.0},          {"Lv", 293.0},         {"Ts", 294.0},
	{"Og", 294.0},
};

const char *qf_element_symbol(int z)
{
	return z >= 1 && z <= QF_MAX_Z ? elements[z].symbol : NULL;
}

double qf_element_mass(int z)
{
	return z >= 1 && z <= QF_MAX_Z ? elements[z].mass : 0.0;
}

/* Symbols are one or two letters, so the lookup normalises the case
 * ("cl", "CL" -> "Cl") and compares; a linear scan of 118 short strings is
 * far below the cost of reading the line it came from. */
int qf_element_from_symbol(const char *s)
{
	if (!s || !isalpha((unsigned char)s[0]))
		return 0;
	char norm[3];
	norm[0] = (char)toupper((unsigned char)s[0]);
	if (s[1] == '\0') {
		norm[1] = '\0';
	} else if (isalpha((unsigned char)s[1]) && s[2] == '\0') {
		norm[1] = (char)tolower((unsigned char)s[1]);
		norm[2] = '\0';
	} else {
		return 0;
	}
	for (int z = 1; z <= QF_MAX_Z; z++) {
		const char *sym = elements[z].symbol;
		if (sym[0] == norm[0] && sym[1] == norm[1])
			return z;
	}
	return 0;
}
